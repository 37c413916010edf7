module example.com/ginapp

go 1.22

require github.com/gin-gonic/gin v1.10.0

require (
	github.com/bytedance/sonic v1.11.6 // indirect
	github.com/go-playground/validator/v10 v10.20.0 // indirect
)
