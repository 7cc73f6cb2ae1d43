package openstack

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	glance "github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"

	"github.com/hardenctl/hardenctl/images"
)

func (c *Client) needImage() error {
	if c.image == nil {
		return errors.New("the cloud's catalog has no image (Glance) service")
	}
	return nil
}

// FindImages lists the images matching q, newest first: one list call. Glance filters by
// name, tags and (for q.OwnProject) owner; all of them are checked again here on each image,
// so that a filter the cloud ignores never lets another's image through.
func (c *Client) FindImages(ctx context.Context, q images.ImageQuery) ([]images.Image, error) {
	if err := c.needImage(); err != nil {
		return nil, err
	}
	opts := glance.ListOpts{Name: q.Name, Tags: q.Tags, SortKey: "created_at", SortDir: "desc"}
	if q.OwnProject {
		if c.projectID == "" {
			return nil, errNoProject
		}
		opts.Owner = c.projectID
	}
	pages, err := glance.List(c.image, opts).AllPages(ctx)
	if err != nil {
		return nil, fmt.Errorf("list images %+v: %w", q, err)
	}
	all, err := glance.ExtractImages(pages)
	if err != nil {
		return nil, fmt.Errorf("read image list: %w", err)
	}
	var out []images.Image
	for _, im := range all {
		img := toImage(im)
		ok := (q.Name == "" || img.Name == q.Name) && q.Owns(img) && (!q.OwnProject || img.Owner == c.projectID)
		for k, v := range q.Properties {
			if img.Properties[k] != v {
				ok = false
			}
		}
		if ok {
			out = append(out, img)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].CreatedAt.After(out[j].CreatedAt) })
	return out, nil
}

func toImage(im glance.Image) images.Image {
	props := map[string]string{}
	for k, v := range im.Properties {
		if s, ok := v.(string); ok {
			props[k] = s
		}
	}
	return images.Image{ID: im.ID, Name: im.Name, Status: string(im.Status), Tags: im.Tags, Properties: props, CreatedAt: im.CreatedAt, Owner: im.Owner}
}

// WaitImage polls until the image is active; killed or deleted images fail at once.
func (c *Client) WaitImage(ctx context.Context, id string) (images.Image, error) {
	delay := 500 * time.Millisecond
	for {
		im, err := glance.Get(ctx, c.image, id).Extract()
		if err != nil {
			return images.Image{}, fmt.Errorf("wait for image %s: %w", id, err)
		}
		switch im.Status {
		case glance.ImageStatusActive:
			return toImage(*im), nil
		case glance.ImageStatusKilled, glance.ImageStatusDeleted, glance.ImageStatusPendingDelete:
			return images.Image{}, fmt.Errorf("image %s (%s) is %s", im.Name, id, im.Status)
		}
		if err := sleepCtx(ctx, delay); err != nil {
			return images.Image{}, fmt.Errorf("wait for image %s to be active (it is %s): %w", id, im.Status, err)
		}
		delay = min(delay*3/2, 3*time.Second)
	}
}

// SetImageProperties adds or replaces properties and replaces the tags, in one PATCH.
func (c *Client) SetImageProperties(ctx context.Context, id string, props map[string]string, tags []string) error {
	current, err := glance.Get(ctx, c.image, id).Extract()
	if err != nil {
		return fmt.Errorf("read image %s: %w", id, err)
	}
	var ops glance.UpdateOpts
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		op := glance.AddOp
		if _, ok := current.Properties[k]; ok {
			op = glance.ReplaceOp
		}
		ops = append(ops, glance.UpdateImageProperty{Op: op, Name: k, Value: props[k]})
	}
	if tags != nil {
		ops = append(ops, glance.ReplaceImageTags{NewTags: tags})
	}
	if _, err := glance.Update(ctx, c.image, id, ops).Extract(); err != nil {
		return fmt.Errorf("set properties of image %s: %w", id, err)
	}
	return nil
}

// DeactivateImage makes an image unusable for new servers while keeping it.
func (c *Client) DeactivateImage(ctx context.Context, id string) error {
	_, err := c.image.Post(ctx, c.image.ServiceURL("images", id, "actions", "deactivate"), nil, nil, &gophercloud.RequestOpts{OkCodes: []int{http.StatusNoContent}})
	if err != nil {
		return fmt.Errorf("deactivate image %s: %w", id, err)
	}
	return nil
}

// DeleteImage deletes an image; one already gone is not an error.
func (c *Client) DeleteImage(ctx context.Context, id string) error {
	err := glance.Delete(ctx, c.image, id).ExtractErr()
	if err == nil || gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		return nil
	}
	return fmt.Errorf("delete image %s: %w", id, err)
}
