package object

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	azb "github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
)

// AzureBlob is a Backend in a container of Azure Blob Storage (or Azurite):
// a name maps to the blob "<prefix>/<name>". A Put stages the body as
// blocks and commits them at the end, so a blob appears whole or not at
// all, and a body that fails, or is shorter or longer than its size, is
// never committed. The container is created on first use.
type AzureBlob struct {
	client    *azblob.Client
	container string
	prefix    string // without slashes at either end
}

// AzureOptions say how to reach the account. The first that is set wins:
// ConnectionString (AZURE_STORAGE_CONNECTION_STRING; Azurite's too),
// Account and Key (AZURE_STORAGE_ACCOUNT, AZURE_STORAGE_KEY), Account and
// SAS (AZURE_STORAGE_SAS_TOKEN). Endpoint overrides the account's
// https://<account>.blob.core.windows.net/.
type AzureOptions struct {
	ConnectionString string
	Account, Key     string
	SAS              string
	Endpoint         string
}

// AzureOptionsFromEnv reads the AZURE_STORAGE_* variables (env is usually
// os.Getenv).
func AzureOptionsFromEnv(env func(string) string) AzureOptions {
	return AzureOptions{ConnectionString: env("AZURE_STORAGE_CONNECTION_STRING"), Account: env("AZURE_STORAGE_ACCOUNT"),
		Key: env("AZURE_STORAGE_KEY"), SAS: env("AZURE_STORAGE_SAS_TOKEN"), Endpoint: env("AZURE_STORAGE_BLOB_ENDPOINT")}
}

// IsAzureURL reports whether location is an azblob:// URL.
func IsAzureURL(location string) bool { return strings.HasPrefix(location, "azblob://") }

// ParseAzureURL splits "azblob://container/prefix" into container and
// prefix (without slashes at either end).
func ParseAzureURL(u string) (containerName, prefix string, err error) {
	rest, ok := strings.CutPrefix(u, "azblob://")
	if !ok {
		return "", "", fmt.Errorf("object: %q is not an azblob://container/prefix URL", u)
	}
	containerName, prefix, _ = strings.Cut(rest, "/")
	prefix = strings.Trim(prefix, "/")
	if len(containerName) < 3 || len(containerName) > 63 || strings.ToLower(containerName) != containerName ||
		strings.ContainsFunc(containerName, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') }) {
		return "", "", fmt.Errorf("object: %q: the container name must be 3-63 lowercase letters, digits and hyphens", u)
	}
	return containerName, prefix, nil
}

// NewAzureBlob opens the container and prefix location names, creating the
// container when it is missing; wrong credentials fail here.
func NewAzureBlob(ctx context.Context, location string, opts AzureOptions) (*AzureBlob, error) {
	cname, prefix, err := ParseAzureURL(location)
	if err != nil {
		return nil, err
	}
	var client *azblob.Client
	endpoint := opts.Endpoint
	if endpoint == "" && opts.Account != "" {
		endpoint = "https://" + opts.Account + ".blob.core.windows.net/"
	}
	switch {
	case opts.ConnectionString != "":
		client, err = azblob.NewClientFromConnectionString(opts.ConnectionString, nil)
	case opts.Account != "" && opts.Key != "":
		var cred *azblob.SharedKeyCredential
		if cred, err = azblob.NewSharedKeyCredential(opts.Account, opts.Key); err == nil {
			client, err = azblob.NewClientWithSharedKeyCredential(endpoint, cred, nil)
		}
	case endpoint != "" && opts.SAS != "":
		client, err = azblob.NewClientWithNoCredential(strings.TrimSuffix(endpoint, "/")+"/?"+strings.TrimPrefix(opts.SAS, "?"), nil)
	default:
		return nil, fmt.Errorf("object: %s: no Azure credentials (set AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN)", location)
	}
	if err != nil {
		return nil, fmt.Errorf("object: %s: %w", location, err)
	}
	a := &AzureBlob{client: client, container: cname, prefix: prefix}
	if _, err := client.CreateContainer(ctx, cname, nil); err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
		return nil, fmt.Errorf("object: %s: create container %q: %w", location, cname, azureReason(err))
	}
	return a, nil
}

// Location returns "azblob://container/prefix".
func (a *AzureBlob) Location() string {
	if a.prefix == "" {
		return "azblob://" + a.container
	}
	return "azblob://" + a.container + "/" + a.prefix
}

func (a *AzureBlob) blobName(name string) (string, error) {
	bad := name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, "\\")
	for part := range strings.SplitSeq(name, "/") {
		bad = bad || part == "" || part == "." || part == ".."
	}
	if bad {
		return "", fmt.Errorf("object: bad backend name %q", name)
	}
	if a.prefix == "" {
		return name, nil
	}
	return a.prefix + "/" + name, nil
}

// fail turns an SDK error into silo's: a missing blob or container wraps
// ErrNotFound; anything else names the operation and the blob.
func (a *AzureBlob) fail(op, blob string, err error) error {
	if bloberror.HasCode(err, bloberror.BlobNotFound, bloberror.ContainerNotFound) {
		return fmt.Errorf("%s in %s: %w", blob, a.Location(), ErrNotFound)
	}
	return fmt.Errorf("object: azure %s %s in container %q: %w", op, blob, a.container, azureReason(err))
}

// azureReason shortens an SDK error to its status and error code.
func azureReason(err error) error {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return fmt.Errorf("%d %s", re.StatusCode, re.ErrorCode)
	}
	return err
}

// exactReader yields exactly size bytes of r: fewer, or more, is an error
// (so the upload is never committed).
type exactReader struct {
	r    io.Reader
	left int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.left == 0 {
		var one [1]byte
		if n, _ := io.ReadFull(e.r, one[:]); n > 0 {
			return 0, fmt.Errorf("object: the body is longer than its size")
		}
		return 0, io.EOF
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if err == io.EOF && e.left > 0 {
		return n, fmt.Errorf("object: the body ended %d bytes short of its size: %w", e.left, io.ErrUnexpectedEOF)
	}
	if err == io.EOF {
		err = nil
	}
	return n, err
}

// Put stores exactly size bytes of r under name.
func (a *AzureBlob) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	// files are immutable: a name that exists keeps its first content
	_, err := a.Create(ctx, name, r, size)
	return err
}

// Create stores exactly size bytes of r under name unless a blob has that
// name (the commit is conditional on there being none), and reports
// whether this call created it.
func (a *AzureBlob) Create(ctx context.Context, name string, r io.Reader, size int64) (bool, error) {
	blob, err := a.blobName(name)
	if err != nil {
		return false, err
	}
	anyTag := azcore.ETagAny
	_, err = a.client.UploadStream(ctx, a.container, blob, &exactReader{r: r, left: size},
		&azblob.UploadStreamOptions{BlockSize: 4 << 20, Concurrency: 4,
			AccessConditions: &azb.AccessConditions{ModifiedAccessConditions: &azb.ModifiedAccessConditions{IfNoneMatch: &anyTag}}})
	if bloberror.HasCode(err, bloberror.BlobAlreadyExists, bloberror.ConditionNotMet) {
		return false, nil
	}
	if err != nil {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		var re *azcore.ResponseError
		if !errors.As(err, &re) {
			return false, fmt.Errorf("object: azure put %s in %s: %w", blob, a.Location(), err)
		}
		return false, a.fail("put", blob, err)
	}
	return true, nil
}

// Get opens name from offset; length < 0 reads to the end.
func (a *AzureBlob) Get(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	blob, err := a.blobName(name)
	if err != nil {
		return nil, err
	}
	if length == 0 {
		if _, err := a.Stat(ctx, name); err != nil {
			return nil, err
		}
		return io.NopCloser(strings.NewReader("")), nil
	}
	opts := &azblob.DownloadStreamOptions{}
	if offset > 0 || length > 0 {
		opts.Range = azblob.HTTPRange{Offset: offset, Count: max(length, 0)}
	}
	resp, err := a.client.DownloadStream(ctx, a.container, blob, opts)
	if err != nil {
		if bloberror.HasCode(err, bloberror.InvalidRange) {
			return io.NopCloser(strings.NewReader("")), nil // offset at the end
		}
		return nil, a.fail("get", blob, err)
	}
	return resp.Body, nil
}

// Stat returns name's size and modification time (the service's clock).
func (a *AzureBlob) Stat(ctx context.Context, name string) (FileInfo, error) {
	blob, err := a.blobName(name)
	if err != nil {
		return FileInfo{}, err
	}
	p, err := a.client.ServiceClient().NewContainerClient(a.container).NewBlobClient(blob).GetProperties(ctx, nil)
	if err != nil {
		return FileInfo{}, a.fail("stat", blob, err)
	}
	fi := FileInfo{Name: name}
	if p.ContentLength != nil {
		fi.Size = *p.ContentLength
	}
	if p.LastModified != nil {
		fi.ModTime = *p.LastModified
	}
	return fi, nil
}

// List calls fn for every name that starts with prefix.
func (a *AzureBlob) List(ctx context.Context, prefix string, fn func(FileInfo) error) error {
	full := prefix
	if a.prefix != "" {
		full = a.prefix + "/" + prefix
	}
	pager := a.client.NewListBlobsFlatPager(a.container, &container.ListBlobsFlatOptions{Prefix: &full})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			if bloberror.HasCode(err, bloberror.ContainerNotFound) {
				return nil
			}
			return a.fail("list", full+"*", err)
		}
		for _, it := range page.Segment.BlobItems {
			if it.Name == nil {
				continue
			}
			name := *it.Name
			if a.prefix != "" {
				name = strings.TrimPrefix(name, a.prefix+"/")
			}
			fi := FileInfo{Name: name}
			if it.Properties != nil {
				if it.Properties.ContentLength != nil {
					fi.Size = *it.Properties.ContentLength
				}
				if it.Properties.LastModified != nil {
					fi.ModTime = *it.Properties.LastModified
				}
			}
			if err := fn(fi); err != nil {
				return err
			}
		}
	}
	return nil
}

// Delete removes name.
func (a *AzureBlob) Delete(ctx context.Context, name string) error {
	blob, err := a.blobName(name)
	if err != nil {
		return err
	}
	if _, err := a.client.DeleteBlob(ctx, a.container, blob, nil); err != nil {
		return a.fail("delete", blob, err)
	}
	return nil
}
