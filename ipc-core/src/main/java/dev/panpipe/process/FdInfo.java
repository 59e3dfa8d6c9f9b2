package dev.panpipe.process;

import dev.panpipe.bindings.linux.linux_h;

import java.nio.file.Path;
import java.util.List;
import java.util.Objects;

/**
 * One open file descriptor of a process, as {@code /proc/PID/fd/N}, {@code /proc/PID/fdinfo/N} and a
 * {@code stat} through the link describe it: what {@code ls -l /proc/PID/fd} and {@code lsof} show.
 *
 * @param fd       the number
 * @param kind     what it is
 * @param target   the link's text: {@code pipe:[1234]}, {@code socket:[99]}, {@code anon_inode:[eventfd]},
 *                 {@code /memfd:name (deleted)}, a path (with {@code " (deleted)"} for a removed file)
 * @param path     the file's path, for the kinds that have one (FIFO, file, directory, device); else null
 * @param device   {@code st_dev} of the open file (0 if it could not be read)
 * @param inode    {@code st_ino} of the open file: a pipe's and FIFO's identity, shared by all its ends
 * @param access   how it was opened ({@code flags & O_ACCMODE}, or {@code O_PATH})
 * @param flags    the open flags from fdinfo ({@code O_NONBLOCK}, {@code O_CLOEXEC}, ...)
 * @param position the file position from fdinfo
 * @param details  fdinfo's other lines ({@code eventfd-count: 0}, {@code Pid: 42}, {@code tfd: ...}) and,
 *                 for a socket, {@code protocol: unix} and its bound path if any
 * @param peers    for a pipe or FIFO, every other fd open on it, in any process this one may read
 *                 ({@link FdTable#unreadable()} names the others); empty for other kinds
 */
public record FdInfo(int fd, Kind kind, String target, Path path, long device, long inode, Access access, int flags,
                     long position, List<String> details, List<Holder> peers) {

    public FdInfo {
        Objects.requireNonNull(kind);
        Objects.requireNonNull(target);
        Objects.requireNonNull(access);
        details = List.copyOf(details);
        peers = List.copyOf(peers);
    }

    /** What an fd refers to. */
    public enum Kind {
        PIPE("pipe"), FIFO("fifo"), SOCKET("socket"), REGULAR_FILE("file"), DIRECTORY("directory"),
        CHAR_DEVICE("char-device"), BLOCK_DEVICE("block-device"), MEMFD("memfd"), EVENTFD("eventfd"),
        EPOLL("epoll"), PIDFD("pidfd"), SIGNALFD("signalfd"), TIMERFD("timerfd"), INOTIFY("inotify"),
        /** Another anonymous inode ({@code anon_inode:[io_uring]}, {@code anon_inode:bpf-map}...). */
        ANON_INODE("anon-inode"),
        /** Anything else: a namespace ({@code net:[...]}), a symlink opened with O_PATH, ... */
        OTHER("other");

        private final String label;

        Kind(String label) {
            this.label = label;
        }

        /** The short lower-case name used in listings and JSON: "pipe", "char-device", "anon-inode". */
        public String label() {
            return label;
        }
    }

    /** How an fd was opened. */
    public enum Access {
        READ("r"), WRITE("w"), READ_WRITE("rw"), PATH("path");

        private final String label;

        Access(String label) {
            this.label = label;
        }

        /** "r", "w", "rw" or "path". */
        public String label() {
            return label;
        }

        /** From fdinfo's {@code flags}: O_PATH, else {@code flags & O_ACCMODE}. */
        public static Access ofFlags(int flags) {
            if ((flags & linux_h.O_PATH()) != 0) return PATH;
            int mode = flags & (linux_h.O_WRONLY() | linux_h.O_RDWR());   // O_ACCMODE
            if (mode == linux_h.O_WRONLY()) return WRITE;
            return mode == linux_h.O_RDWR() ? READ_WRITE : READ;
        }
    }

    /** Another fd on the same pipe or FIFO: whose it is and which way it goes. */
    public record Holder(long pid, String command, int fd, Access access) {
    }

    /** True for a pipe or FIFO end. */
    public boolean isPipeLike() {
        return kind == Kind.PIPE || kind == Kind.FIFO;
    }

    /** The peers that hold the other end: writers of a read end, readers of a write end; every peer of a read-write end. */
    public List<Holder> otherEnds() {
        return peers.stream().filter(h -> switch (access) {
            case READ -> h.access() != Access.READ;
            case WRITE -> h.access() != Access.WRITE;
            default -> true;
        }).toList();
    }
}
