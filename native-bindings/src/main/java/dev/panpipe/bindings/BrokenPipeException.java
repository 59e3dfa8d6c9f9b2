package dev.panpipe.bindings;

/**
 * A write to a pipe or socket whose every reader has closed ({@code EPIPE}).
 *
 * <p>The JVM ignores {@code SIGPIPE}, so the kernel reports this as an error of the write rather than
 * killing the process: panpipe turns it into this type so callers can tell "the peer went away"
 * from other I/O errors.
 */
public final class BrokenPipeException extends SyscallException {
    BrokenPipeException(String call, String subject) {
        super(call, subject, Errno.EPIPE);
    }

    BrokenPipeException(String context, BrokenPipeException failure) {
        super(context, failure);
    }
}
