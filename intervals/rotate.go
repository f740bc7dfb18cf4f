package intervals

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Default limits of a file from Create; see Options.
const (
	DefaultMaxFileBytes  = 32 << 20
	DefaultMaxTotalBytes = 256 << 20
)

// Options bound the files of a Writer from Create. The zero value means the defaults.
type Options struct {
	// MaxFileBytes is the size past which the file is rotated: renamed to the next
	// "<stem>-NNNNNN.jsonl" and started afresh with the intervals still open carried over.
	MaxFileBytes int64
	// MaxTotalBytes caps the file and its rotated files together: after a rotation the oldest
	// rotated files are removed until they leave room for a full current file. It should be a
	// few times MaxFileBytes; below MaxFileBytes it is taken as MaxFileBytes.
	MaxTotalBytes int64
}

func (o Options) withDefaults() Options {
	if o.MaxFileBytes <= 0 {
		o.MaxFileBytes = DefaultMaxFileBytes
	}
	if o.MaxTotalBytes <= 0 {
		o.MaxTotalBytes = DefaultMaxTotalBytes
	}
	o.MaxTotalBytes = max(o.MaxTotalBytes, o.MaxFileBytes)
	return o
}

// RotatedFile is one file that an interval stream was rotated into.
type RotatedFile struct {
	Path string
	Seq  int
	Size int64
}

// rotatedName is the name of the seq-th file rotated from path: "intervals.jsonl" becomes
// "intervals-000001.jsonl".
func rotatedName(path string, seq int) string {
	ext := filepath.Ext(path)
	return fmt.Sprintf("%s-%06d%s", strings.TrimSuffix(path, ext), seq, ext)
}

// rotatedSeq returns the sequence number of name if it is a file rotated from a file named
// head (both base names), e.g. 3 for "intervals-000003.jsonl" and "intervals.jsonl".
func rotatedSeq(name, head string) (int, bool) {
	ext := filepath.Ext(head)
	stem := strings.TrimSuffix(head, ext) + "-"
	if !strings.HasPrefix(name, stem) || !strings.HasSuffix(name, ext) {
		return 0, false
	}
	digits := name[len(stem) : len(name)-len(ext)]
	if len(digits) < 6 || strings.Trim(digits, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(digits)
	return n, err == nil
}

// rotatedHead returns the head file name that name was rotated from, if it is such a name.
func rotatedHead(name string) (string, bool) {
	ext := filepath.Ext(name)
	stem := strings.TrimSuffix(name, ext)
	i := strings.LastIndexByte(stem, '-')
	if i < 0 {
		return "", false
	}
	head := stem[:i] + ext
	_, ok := rotatedSeq(name, head)
	return head, ok
}

// Rotated lists the files rotated from path, oldest first. None is not an error.
func Rotated(path string) ([]RotatedFile, error) {
	dir, head := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("intervals: %w", err)
	}
	var out []RotatedFile
	for _, e := range entries {
		seq, ok := rotatedSeq(e.Name(), head)
		if !ok || e.IsDir() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		out = append(out, RotatedFile{Path: filepath.Join(filepath.Dir(path), e.Name()), Seq: seq, Size: info.Size()})
	}
	slices.SortFunc(out, func(a, b RotatedFile) int { return a.Seq - b.Seq })
	return out, nil
}
