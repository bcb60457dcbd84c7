package policy

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// MaxFileBytes caps the policy file and the .env file: both are a few
// kilobytes, and a path that names /dev/zero or a huge file must end in a
// clear error, not in an out-of-memory crash.
const MaxFileBytes = 1 << 20

// ErrNotRegular is a policy or .env path that names something other than a
// regular file: a folder, a named pipe (reading it would wait forever for
// a writer), a device such as /dev/zero, a socket.
var ErrNotRegular = errors.New("not a regular file")

// readRegular reads the regular file at path, at most MaxFileBytes. It
// looks before it opens, so a named pipe is never opened (which would
// block), and checks again on the open file, so a swap in between is
// caught. A missing file is an error wrapping fs.ErrNotExist.
func readRegular(path string) ([]byte, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is %s, %w: name the file itself", path, describeMode(info.Mode()), ErrNotRegular)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	opened, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !opened.Mode().IsRegular() || !os.SameFile(info, opened) {
		return nil, fmt.Errorf("%s changed while it was opened and is %s, %w", path, describeMode(opened.Mode()), ErrNotRegular)
	}
	if opened.Size() > MaxFileBytes {
		return nil, fmt.Errorf("%s is %d bytes, more than the %d a policy or .env file may have", path, opened.Size(), MaxFileBytes)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("%s grew past the %d bytes a policy or .env file may have", path, MaxFileBytes)
	}
	return data, nil
}

// describeMode names a file type for a message.
func describeMode(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a folder"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeIrregular != 0:
		return "an irregular file"
	}
	return "not a regular file"
}
