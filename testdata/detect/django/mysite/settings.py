INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
]
ROOT_URLCONF = "mysite.urls"
