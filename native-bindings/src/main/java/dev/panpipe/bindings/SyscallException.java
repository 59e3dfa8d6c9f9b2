package dev.panpipe.bindings;

import java.io.IOException;

/**
 * A system call failed. The message names the call, the errno's symbolic name and the C library's text
 * for it, for example {@code write: EPIPE (Broken pipe)}; a caller may add what it was working on
 * ({@code open /tmp/x: ENOENT (No such file or directory)}).
 *
 * <p>Expected conditions are not thrown: {@code EAGAIN} on a non-blocking fd is a return value of
 * {@link Syscalls}, and {@code EINTR} is retried where the call is safe to restart.
 */
public class SyscallException extends IOException {
    private final String call;
    private final int errno;

    protected SyscallException(String call, String subject, int errno) {
        super(call + (subject == null ? "" : " " + subject) + ": " + Errno.name(errno) + " (" + Errno.describe(errno) + ")");
        this.call = call;
        this.errno = errno;
    }

    /** The exception for {@code errno} from {@code call}: a {@link BrokenPipeException} for EPIPE. */
    public static SyscallException of(String call, int errno) {
        return of(call, null, errno);
    }

    /** As {@link #of(String, int)}, with what the call was working on (a path, a pid) in the message. */
    public static SyscallException of(String call, String subject, int errno) {
        return errno == Errno.EPIPE
                ? new BrokenPipeException(call, subject)
                : new SyscallException(call, subject, errno);
    }

    /** The system call or C function that failed, as C names it ({@code posix_spawn}, {@code write}). */
    public String call() {
        return call;
    }

    /** The error number. */
    public int errno() {
        return errno;
    }

    /** The error's symbolic name ({@code EPIPE}), or {@code errno=N} for a number panpipe does not know. */
    public String errnoName() {
        return Errno.name(errno);
    }
}
