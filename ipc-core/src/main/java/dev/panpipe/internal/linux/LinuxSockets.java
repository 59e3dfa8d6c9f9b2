package dev.panpipe.internal.linux;

import dev.panpipe.bindings.Syscalls;
import dev.panpipe.bindings.linux.linux_h;
import dev.panpipe.connection.Connection;
import dev.panpipe.connection.ConnectionOptions;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/** Unix socketpairs: the duplex transport of {@link Connection#pair()}. */
public final class LinuxSockets {
    private LinuxSockets() {
    }

    /** {@code socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC)}: two connected fds. */
    public static int[] socketpair() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment sv = arena.allocate(linux_h.C_INT, 2);
            Syscalls.socketpair(linux_h.AF_UNIX(), linux_h.SOCK_STREAM() | linux_h.SOCK_CLOEXEC(), 0, sv);
            return new int[] {sv.getAtIndex(linux_h.C_INT, 0), sv.getAtIndex(linux_h.C_INT, 1)};
        }
    }

    public static Connection.Pair connectionPair(ConnectionOptions options) throws IOException {
        int[] sv = socketpair();
        return new Connection.Pair(over(sv[0], "socketpair end 0", options), over(sv[1], "socketpair end 1", options));
    }

    /** A connection reading and writing one socket fd: both ends share one owner, so closing either closes the socket. */
    private static Connection over(int fd, String description, ConnectionOptions options) {
        FdHandle handle = FdHandle.own(fd, description);
        return Connection.over(new FdReadEnd(handle), new FdWriteEnd(handle), options);
    }
}
