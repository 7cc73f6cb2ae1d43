// Package rollout owns batched rebuild/replace of a fleet onto a new image, with health gates,
// pause/abort/rollback and resume. (Not built yet.)
package rollout
