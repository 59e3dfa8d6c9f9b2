package dev.panpipe.zerocopy;

import dev.panpipe.bindings.Errno;
import dev.panpipe.bindings.SyscallException;
import dev.panpipe.bindings.Syscalls;
import dev.panpipe.bindings.linux.linux_h;
import dev.panpipe.bindings.linux.stat;
import dev.panpipe.internal.Closer;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.regex.Pattern;

/**
 * A block of memory shared between processes, mapped {@code MAP_SHARED} and seen as a {@link MemorySegment}.
 *
 * <p>Two kinds, one class:
 * <ul>
 *   <li>{@link #create(String, long)}: an anonymous {@code memfd_create} file (close-on-exec, so it reaches a
 *       child only when handed over, for example with
 *       {@code SubprocessBuilder.passFd(3, Redirect.fd((int) shm.nativeHandle()))}, or to any process over a
 *       Unix socket with {@link FdPassing}); the receiver maps the same pages with {@link #map(int)}. Nothing
 *       appears in the file system, and the memory is freed when the last process unmaps it.</li>
 *   <li>{@link #createNamed(String, long)}: a POSIX {@code shm_open} object {@code /dev/shm/panpipe-NAME},
 *       created 0600 with {@code O_EXCL|O_NOFOLLOW}, for unrelated processes that only share a name; they
 *       map it with {@link #openNamed(String)}. The creator unlinks the name when it closes; a survivor of a
 *       dead creator calls {@link #unlink()}. Either removes the name only while it still refers to this
 *       block (see {@link #unlink()}): a name that was unlinked and made again for a new block belongs to
 *       that block's creator.</li>
 * </ul>
 *
 * <p>A block keeps its size. Any process that holds the fd could otherwise {@code ftruncate} the file
 * smaller, and the next access to a page past the new end would fault in every process that maps it
 * (HotSpot turns the SIGBUS into an {@link InternalError} that is delivered asynchronously, possibly
 * outside the code that made the access, say in the middle of a frame ring's protocol). So a memfd block
 * is created with {@code MFD_ALLOW_SEALING} and sealed once it has its size with
 * {@code F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL}: {@code ftruncate} then fails with EPERM for every holder,
 * this process included, and no holder can change the seals. A received memfd that allows sealing and
 * is not yet held to its size is sealed against shrinking by {@link #map(int)}.
 * <b>Named blocks cannot be sealed</b>: Linux allows seals only on memfds, and a {@code shm_open} object
 * reports {@code F_SEAL_SEAL} from the start; any process that can open the name read-write can shrink it
 * under every mapping. Use a named block only between processes that trust each other.
 *
 * <p>One owner: {@link #close()} unmaps (the segment becomes unusable, through its shared {@link Arena}),
 * for a named block this process created unlinks the name (if it is still this block's), and closes the
 * fd; each of these runs even if one before it failed.
 */
public final class SharedMemory implements AutoCloseable {
    /** Every named block panpipe makes lives under this prefix in /dev/shm, so a stray one is recognisable. */
    public static final String NAME_PREFIX = "panpipe-";
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9._-]{1,200}");
    /** What a memfd block is sealed with once sized: no holder may resize it or change its seals. */
    private static final int SEALS = linux_h.F_SEAL_SHRINK() | linux_h.F_SEAL_GROW() | linux_h.F_SEAL_SEAL();
    /**
     * Where the named blocks' files are. glibc's shm_open (2.34 and later; musl's too) is an open of "/dev/shm"
     * followed by the name; the identity check in {@link #unlink()} opens the same file by that path. On a
     * system whose C library put shm objects elsewhere the check would find nothing, and the name would be
     * left in place rather than removed unchecked.
     */
    private static final String SHM_DIR = "/dev/shm";

    private final int fd;
    private final long address;
    private final String name;          // the shm_open name ("/panpipe-x"), or null for a memfd
    private final FileId file;          // the named block's file, as fstat of fd saw it; null for a memfd
    private final boolean unlinkOnClose;
    private final Arena arena;
    private final MemorySegment segment;
    private final AtomicBoolean closed = new AtomicBoolean();
    /** Held by {@link #unlink()} and by the close of the fd: an unlink checks the name while the fd holds the file. */
    private final Object fdLock = new Object();
    private boolean fdClosed;           // guarded by fdLock

    /** A file's identity: its device and inode numbers, unique among the files that exist at one time. */
    private record FileId(long dev, long ino) {
        static FileId of(MemorySegment st) {
            return new FileId(stat.st_dev(st), stat.st_ino(st));
        }

        /** The identity of the file open as {@code fd}. */
        static FileId of(int fd) throws SyscallException {
            try (Arena tmp = Arena.ofConfined()) {
                MemorySegment st = stat.allocate(tmp);
                Syscalls.fstat(fd, st);
                return of(st);
            }
        }
    }

    private SharedMemory(int fd, long size, String name, FileId file, boolean unlinkOnClose) throws SyscallException {
        this.fd = fd;
        this.name = name;
        this.file = file;
        this.unlinkOnClose = unlinkOnClose;
        MemorySegment mapped = Syscalls.mmap(MemorySegment.NULL, size, linux_h.PROT_READ() | linux_h.PROT_WRITE(),
                linux_h.MAP_SHARED(), fd, 0);
        this.address = mapped.address();
        this.arena = Arena.ofShared();   // after the mmap: a failed one leaves no open arena behind
        // No cleanup action: close unmaps itself once it has closed the arena, so that a failed munmap is
        // thrown as what it is, never taken for an arena that another close closed first.
        this.segment = mapped.reinterpret(size, arena, null);
    }

    /**
     * A new anonymous shared block of {@code size} bytes, zero-filled, sealed at that size (no holder of the
     * fd can resize it); {@code name} shows in /proc/PID/fd.
     */
    public static SharedMemory create(String name, long size) throws IOException {
        checkSize(size);
        int fd;
        try (Arena tmp = Arena.ofConfined()) {
            fd = Syscalls.memfd_create(tmp.allocateFrom("panpipe:" + name), linux_h.MFD_CLOEXEC() | linux_h.MFD_ALLOW_SEALING());
        }
        try {
            Syscalls.ftruncate(fd, size);
            addSeals(fd, SEALS);
            return new SharedMemory(fd, size, null, null, false);
        } catch (IOException | RuntimeException e) {
            closeSuppressingInto(fd, e);
            throw e;
        }
    }

    /**
     * A new named block {@code /dev/shm/panpipe-NAME} of {@code size} bytes, zero-filled, mode 0600. Fails with
     * EEXIST rather than reuse a block someone else made. The name is unlinked when this object closes, if it
     * still refers to this block then (see {@link #unlink()}).
     */
    public static SharedMemory createNamed(String name, long size) throws IOException {
        checkSize(size);
        String shmName = shmName(name);
        int fd;
        try (Arena tmp = Arena.ofConfined()) {
            fd = Syscalls.shm_open(tmp.allocateFrom(shmName),
                    linux_h.O_RDWR() | linux_h.O_CREAT() | linux_h.O_EXCL() | linux_h.O_NOFOLLOW() | linux_h.O_CLOEXEC(),
                    0600);
        } catch (SyscallException e) {
            throw SyscallException.of("shm_open", shmName, e.errno());
        }
        FileId file = null;
        try {
            file = FileId.of(fd);
            Syscalls.ftruncate(fd, size);
            reserve(fd, size, shmName);
            return new SharedMemory(fd, size, shmName, file, true);
        } catch (IOException | RuntimeException e) {
            // Removed while the fd still holds the file, and only if the name is still ours. Should the fstat
            // of a file just opened ever fail, the name stays: one that cannot be checked is not removed.
            if (file != null) {
                try {
                    unlinkIfStill(shmName, file);
                } catch (SyscallException unlink) {
                    e.addSuppressed(unlink);
                }
            }
            closeSuppressingInto(fd, e);
            throw e;
        }
    }

    /** Maps the existing named block {@code /dev/shm/panpipe-NAME}; closing it leaves the name in place. */
    public static SharedMemory openNamed(String name) throws IOException {
        String shmName = shmName(name);
        int fd;
        try (Arena tmp = Arena.ofConfined()) {
            fd = Syscalls.shm_open(tmp.allocateFrom(shmName), linux_h.O_RDWR() | linux_h.O_NOFOLLOW() | linux_h.O_CLOEXEC(), 0);
        } catch (SyscallException e) {
            throw SyscallException.of("shm_open", shmName, e.errno());
        }
        try {
            return new SharedMemory(fd, sizeOf(fd), shmName, FileId.of(fd), false);
        } catch (IOException | RuntimeException e) {
            closeSuppressingInto(fd, e);
            throw e;
        }
    }

    /**
     * Maps a shared block handed to this process as {@code fd}, taking ownership of the fd: it is closed
     * with the block, or at once if mapping it fails. A memfd that allows sealing but is not held to its
     * size yet (one a foreign sender made) is first sealed against shrinking, which holds for the sender's
     * fd too (the one resize that would fault this mapping).
     */
    public static SharedMemory map(int fd) throws IOException {
        try {
            sealAgainstShrinking(fd);
            return new SharedMemory(fd, sizeOf(fd), null, null, false);
        } catch (IOException | RuntimeException e) {
            closeSuppressingInto(fd, e);
            throw e;
        }
    }

    /**
     * Takes a named block's pages from /dev/shm now. ftruncate only sets the size: on a full tmpfs (a
     * container's /dev/shm is 64 MiB by default) the first write to a page that cannot be had would fault
     * in every process that maps the block, a SIGBUS that HotSpot turns into an asynchronous InternalError.
     * Reserved here, running out is this call's ENOSPC, named with the room that was left. (A memfd lives
     * on the kernel's internal mount, which has no size limit of its own: there is nothing to reserve.)
     */
    private static void reserve(int fd, long size, String name) throws SyscallException {
        try {
            Syscalls.fallocate(fd, 0, 0, size);
        } catch (SyscallException e) {
            if (e.errno() != Errno.ENOSPC) throw SyscallException.of("fallocate", name, e.errno());
            String free;
            try {
                free = Files.getFileStore(Path.of("/dev/shm")).getUsableSpace() + " bytes";
            } catch (IOException unknown) {
                free = "an unknown number of bytes";
            }
            throw SyscallException.of("fallocate", name + ": " + size + " bytes asked, /dev/shm has " + free + " free", e.errno());
        }
    }

    /** Closes {@code fd} on a path that failed with {@code failure}: a failed close is suppressed in it, not thrown instead. */
    private static void closeSuppressingInto(int fd, Exception failure) {
        try {
            Syscalls.close(fd);
        } catch (SyscallException e) {
            failure.addSuppressed(e);
        }
    }

    private static void addSeals(int fd, int seals) throws SyscallException {
        try {
            Syscalls.fcntl(fd, linux_h.F_ADD_SEALS(), seals);
        } catch (SyscallException e) {
            throw SyscallException.of("fcntl", "F_ADD_SEALS", e.errno());
        }
    }

    /**
     * Seals a received block against shrinking, the one resize that makes this process's mapping fault.
     * The seal is on the file, so it binds the sender as well. That takes nothing from a sender that shares
     * the block correctly: shrinking a file that another process maps is never safe for that process, and
     * every panpipe block is fixed-size. Growing is left alone (it cannot fault a mapping of the old size,
     * and a foreign sender may grow its file for mappings it makes later), and so is {@code F_SEAL_SEAL}:
     * the sender keeps its say over further seals. Sealing comes before the {@code fstat} that sizes the
     * mapping, so the size mapped is one nobody can take back. A block panpipe created is sealed already;
     * a {@code shm_open} object or a memfd made without {@code MFD_ALLOW_SEALING} reports {@code F_SEAL_SEAL}
     * and a file of another kind EINVAL: those stay as exposed as they were.
     */
    private static void sealAgainstShrinking(int fd) throws SyscallException {
        int seals;
        try {
            seals = Syscalls.fcntl(fd, linux_h.F_GET_SEALS(), 0);
        } catch (SyscallException e) {
            if (e.errno() == Errno.EINVAL) return;   // not a file that takes seals
            throw SyscallException.of("fcntl", "F_GET_SEALS", e.errno());
        }
        if ((seals & (linux_h.F_SEAL_SHRINK() | linux_h.F_SEAL_SEAL())) != 0) return;
        try {
            Syscalls.fcntl(fd, linux_h.F_ADD_SEALS(), linux_h.F_SEAL_SHRINK());
        } catch (SyscallException e) {
            // EPERM: the sender set F_SEAL_SEAL since we looked, or the fd is read-only (mmap refuses that
            // with EACCES next). Either way the mapping is only as safe as the sender left the block.
            if (e.errno() != Errno.EPERM) throw SyscallException.of("fcntl", "F_ADD_SEALS", e.errno());
        }
    }

    private static long sizeOf(int fd) throws IOException {
        long size;
        try (Arena tmp = Arena.ofConfined()) {
            MemorySegment st = stat.allocate(tmp);
            Syscalls.fstat(fd, st);
            size = stat.st_size(st);
        }
        if (size <= 0) throw new IOException("fd " + fd + " has size " + size + ": not a shared memory block");
        return size;
    }

    private static void checkSize(long size) {
        if (size <= 0) throw new IllegalArgumentException("shared memory size must be positive: " + size);
    }

    private static String shmName(String name) {
        if (name == null || !NAME.matcher(name).matches()) {
            throw new IllegalArgumentException("shared memory name must be 1-200 of [A-Za-z0-9._-]: " + name);
        }
        return "/" + NAME_PREFIX + name;
    }

    /** The mapping. Valid until {@link #close()}. */
    public MemorySegment segment() {
        return segment;
    }

    public long size() {
        return segment.byteSize();
    }

    /** The fd, for handing to a child; -1 once closed. */
    public long nativeHandle() {
        return closed.get() ? -1 : fd;
    }

    /** The shm_open name ("/panpipe-NAME"), or null for an anonymous memfd block. */
    public String shmName() {
        return name;
    }

    /**
     * Removes the name of this named block from /dev/shm now, if the name still refers to this block (the
     * mappings of every process stay valid): how a survivor cleans up after a dead creator, and what the
     * creator's {@link #close()} does. True if this call removed the name; false if it was gone already (another
     * process unlinked it), if it now names another file (it was unlinked and made again, for a new block that
     * is not ours to remove), for an anonymous block, and once this block is closed.
     *
     * <p>The check: the file at /dev/shm/panpipe-NAME is opened with {@code O_PATH|O_NOFOLLOW} (no access to
     * its contents needed, a symbolic link is looked at, not followed) and its device and inode numbers are
     * compared with those of this block's file, taken when it was created or opened. This block's fd is open
     * all the while, so its file, and with it its inode number, cannot be freed and handed to a new file.
     *
     * <p><b>A window remains</b>: Linux has no call that removes a name only if it refers to a given inode, so
     * after the check the name is looked up again, by {@code shm_unlink}. If, between those two system calls,
     * another process removes the name and a new block is made under it, this call removes the new block's
     * name (its mappings stay valid, but nobody can open it by name any more). The check narrows what used to
     * be the whole time between a name's removal and this block's close to that window; it cannot close it.
     *
     * @throws SyscallException if the check or the removal failed for another reason than the name being gone
     */
    public boolean unlink() throws IOException {
        if (name == null) return false;
        synchronized (fdLock) {
            if (fdClosed) return false;   // without the fd the inode number could be a new file's: no check possible
            return unlinkIfStill(name, file);
        }
    }

    /**
     * Removes {@code shmName} if /dev/shm holds it as the file {@code file}, which the caller holds open;
     * true if this call removed it. Gone at any step (ENOENT) is false, not a failure.
     */
    private static boolean unlinkIfStill(String shmName, FileId file) throws SyscallException {
        String path = SHM_DIR + shmName;
        try (Arena tmp = Arena.ofConfined()) {
            int probe;
            try {
                probe = Syscalls.openat(linux_h.AT_FDCWD(), tmp.allocateFrom(path),
                        linux_h.O_PATH() | linux_h.O_NOFOLLOW() | linux_h.O_CLOEXEC(), 0);
            } catch (SyscallException e) {
                if (e.errno() == Errno.ENOENT) return false;
                throw e;   // "open /dev/shm/panpipe-x: ..."
            }
            FileId found;
            try {
                MemorySegment st = stat.allocate(tmp);
                Syscalls.fstat(probe, st);
                found = FileId.of(st);
            } catch (SyscallException e) {
                SyscallException named = SyscallException.of("fstat", path, e.errno());
                closeSuppressingInto(probe, named);
                throw named;
            }
            Syscalls.close(probe);
            if (!found.equals(file)) return false;   // a new block's name now: not ours to remove
            try {
                Syscalls.shm_unlink(tmp.allocateFrom(shmName));
                return true;
            } catch (SyscallException e) {
                if (e.errno() == Errno.ENOENT) return false;   // removed by someone else since the check
                throw e;   // names the object
            }
        }
    }

    /**
     * Unmaps, for a named block this process created unlinks the name if it is still this block's (see
     * {@link #unlink()}: quietly left alone if someone else removed it or made it again), and closes the fd,
     * in that order: the fd holds the file while the name is checked. Each of these runs even if one before it
     * failed; the first failure is thrown, the later ones suppressed in it.
     *
     * <p>Idempotent, but for one case: if a thread of this process is still inside a native call on the
     * segment two seconds after close began (a {@code read(2)} into it, say), the unmap fails with the
     * arena's {@link IllegalStateException} and the mapping stays, usable, until a later close unmaps it;
     * the fd and the name are released by the first close either way.
     */
    @Override
    public void close() throws IOException {
        Closer closer = new Closer();
        closer.run(this::unmap);
        if (closed.compareAndSet(false, true)) {
            if (unlinkOnClose) closer.run(this::unlink);
            closer.run(this::closeFd);
        }
        closer.throwFailure();
    }

    private void closeFd() throws SyscallException {
        synchronized (fdLock) {
            fdClosed = true;   // even if close fails: Linux releases the fd then too
            Syscalls.close(fd);
        }
    }

    /** Unmaps, unless done already (by this close's predecessor, or by a concurrent one). */
    private void unmap() throws SyscallException {
        if (arena.scope().isAlive() && closeArena()) Syscalls.munmap(MemorySegment.ofAddress(address), segment.byteSize());
    }

    /**
     * Closes the arena: true if this call closed it, false if another did. A shared arena refuses to close
     * while another thread is inside a native call on the mapping (a ring end asleep on a futex word in it);
     * such a sleeper wakes within its liveness slice once its end is closed, so retry for a while rather
     * than give up on the mapping.
     */
    private boolean closeArena() {
        long deadline = System.nanoTime() + 2_000_000_000L;
        for (;;) {
            try {
                arena.close();
                return true;
            } catch (IllegalStateException inUse) {
                if (!arena.scope().isAlive()) return false;   // a concurrent close closed it, and unmaps
                if (System.nanoTime() - deadline > 0) throw inUse;
                Thread.onSpinWait();
                try {
                    Thread.sleep(1);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw inUse;
                }
            }
        }
    }
}
