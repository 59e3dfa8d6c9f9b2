package dev.panpipe.bindings;

import dev.panpipe.bindings.linux.linux_h;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Symbolic names and descriptions of error numbers.
 *
 * <p>The numbers come from the C headers through the generated bindings, never from a table typed in
 * by hand, so the names stay right on any architecture jextract is run for.
 */
public final class Errno {
    public static final int EPERM = linux_h.EPERM();
    public static final int ENOENT = linux_h.ENOENT();
    public static final int ESRCH = linux_h.ESRCH();
    public static final int EINTR = linux_h.EINTR();
    public static final int EBADF = linux_h.EBADF();
    public static final int ECHILD = linux_h.ECHILD();
    public static final int EAGAIN = linux_h.EAGAIN();
    public static final int ENOMEM = linux_h.ENOMEM();
    public static final int EACCES = linux_h.EACCES();
    public static final int EFAULT = linux_h.EFAULT();
    public static final int EEXIST = linux_h.EEXIST();
    public static final int ENOTDIR = linux_h.ENOTDIR();
    public static final int EISDIR = linux_h.EISDIR();
    public static final int EINVAL = linux_h.EINVAL();
    public static final int EMFILE = linux_h.EMFILE();
    public static final int ENOEXEC = linux_h.ENOEXEC();
    public static final int ETXTBSY = linux_h.ETXTBSY();
    public static final int ENOSPC = linux_h.ENOSPC();
    public static final int ENXIO = linux_h.ENXIO();
    public static final int EPIPE = linux_h.EPIPE();
    public static final int ELOOP = linux_h.ELOOP();
    public static final int ENOSYS = linux_h.ENOSYS();
    public static final int ETIMEDOUT = linux_h.ETIMEDOUT();
    public static final int ECONNRESET = linux_h.ECONNRESET();
    public static final int EOWNERDEAD = linux_h.EOWNERDEAD();

    private static final String[] NAMES = new String[256];

    static {
        name(linux_h.EPERM(), "EPERM");
        name(linux_h.ENOENT(), "ENOENT");
        name(linux_h.ESRCH(), "ESRCH");
        name(linux_h.EINTR(), "EINTR");
        name(linux_h.EIO(), "EIO");
        name(linux_h.ENXIO(), "ENXIO");
        name(linux_h.E2BIG(), "E2BIG");
        name(linux_h.ENOEXEC(), "ENOEXEC");
        name(linux_h.EBADF(), "EBADF");
        name(linux_h.ECHILD(), "ECHILD");
        name(linux_h.EAGAIN(), "EAGAIN");
        name(linux_h.ENOMEM(), "ENOMEM");
        name(linux_h.EACCES(), "EACCES");
        name(linux_h.EFAULT(), "EFAULT");
        name(linux_h.EBUSY(), "EBUSY");
        name(linux_h.EEXIST(), "EEXIST");
        name(linux_h.EXDEV(), "EXDEV");
        name(linux_h.ENODEV(), "ENODEV");
        name(linux_h.ENOTDIR(), "ENOTDIR");
        name(linux_h.EISDIR(), "EISDIR");
        name(linux_h.EINVAL(), "EINVAL");
        name(linux_h.ENFILE(), "ENFILE");
        name(linux_h.EMFILE(), "EMFILE");
        name(linux_h.ENOTTY(), "ENOTTY");
        name(linux_h.ETXTBSY(), "ETXTBSY");
        name(linux_h.EFBIG(), "EFBIG");
        name(linux_h.ENOSPC(), "ENOSPC");
        name(linux_h.ESPIPE(), "ESPIPE");
        name(linux_h.EROFS(), "EROFS");
        name(linux_h.EMLINK(), "EMLINK");
        name(linux_h.EPIPE(), "EPIPE");
        name(linux_h.ERANGE(), "ERANGE");
        name(linux_h.ENAMETOOLONG(), "ENAMETOOLONG");
        name(linux_h.ENOSYS(), "ENOSYS");
        name(linux_h.ENOTEMPTY(), "ENOTEMPTY");
        name(linux_h.ELOOP(), "ELOOP");
        name(linux_h.ENOTSOCK(), "ENOTSOCK");
        name(linux_h.EMSGSIZE(), "EMSGSIZE");
        name(linux_h.EPROTOTYPE(), "EPROTOTYPE");
        name(linux_h.EOPNOTSUPP(), "EOPNOTSUPP");
        name(linux_h.EADDRINUSE(), "EADDRINUSE");
        name(linux_h.ENETDOWN(), "ENETDOWN");
        name(linux_h.ECONNABORTED(), "ECONNABORTED");
        name(linux_h.ECONNRESET(), "ECONNRESET");
        name(linux_h.ENOBUFS(), "ENOBUFS");
        name(linux_h.EISCONN(), "EISCONN");
        name(linux_h.ENOTCONN(), "ENOTCONN");
        name(linux_h.ESHUTDOWN(), "ESHUTDOWN");
        name(linux_h.ETIMEDOUT(), "ETIMEDOUT");
        name(linux_h.ECONNREFUSED(), "ECONNREFUSED");
        name(linux_h.EALREADY(), "EALREADY");
        name(linux_h.EINPROGRESS(), "EINPROGRESS");
        name(linux_h.EOVERFLOW(), "EOVERFLOW");
        name(linux_h.ECANCELED(), "ECANCELED");
        name(linux_h.EOWNERDEAD(), "EOWNERDEAD");
        name(linux_h.ENOTRECOVERABLE(), "ENOTRECOVERABLE");
    }

    private Errno() {
    }

    private static void name(int errno, String name) {
        NAMES[errno] = name;
    }

    /** The symbolic name of {@code errno} ({@code EPIPE}), or {@code errno=N} when panpipe does not list it. */
    public static String name(int errno) {
        String name = errno >= 0 && errno < NAMES.length ? NAMES[errno] : null;
        return name != null ? name : "errno=" + errno;
    }

    /** The C library's description of {@code errno} ({@code strerror_r}), e.g. "Broken pipe". */
    public static String describe(int errno) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(256);
            // GNU strerror_r: returns a pointer to the text, which may or may not be buf.
            MemorySegment text = linux_h.strerror_r(errno, buf, buf.byteSize());
            return text.reinterpret(1024).getString(0);
        }
    }
}
