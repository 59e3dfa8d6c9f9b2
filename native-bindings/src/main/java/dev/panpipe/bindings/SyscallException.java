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

    /** {@code failure} again, its message put after what it was part of: see {@link #withContext}. */
    SyscallException(String context, SyscallException failure) {
        super(context + ": " + failure.getMessage(), failure);
        this.call = failure.call;
        this.errno = failure.errno;
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

    /**
     * This failure, said of what it was part of: the same type (a {@link BrokenPipeException} stays one),
     * {@link #call()} and {@link #errno()}, the message {@code context + ": " + getMessage()}, and this as
     * the cause. For a caller that knows more than the call did, as a pipeline knows which stage opened the
     * pipe: {@code pipeline stage 2 (cat): cannot open the pipe to stage 3: pipe2: EMFILE (Too many open files)}.
     */
    public SyscallException withContext(String context) {
        return this instanceof BrokenPipeException b ? new BrokenPipeException(context, b) : new SyscallException(context, this);
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
