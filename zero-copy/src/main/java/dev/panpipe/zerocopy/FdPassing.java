package dev.panpipe.zerocopy;

import dev.panpipe.bindings.Errno;
import dev.panpipe.bindings.SyscallException;
import dev.panpipe.bindings.Syscalls;
import dev.panpipe.bindings.linux.cmsghdr;
import dev.panpipe.bindings.linux.iovec;
import dev.panpipe.bindings.linux.linux_h;
import dev.panpipe.bindings.linux.msghdr;
import dev.panpipe.bindings.linux.pollfd;

import java.io.EOFException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Hands an open fd (a {@link SharedMemory} block, a pipe end, an eventfd) to another process over a
 * connected Unix socket with {@code SCM_RIGHTS}: how a segment reaches a process that was not started with
 * it. The kernel installs a new fd in the receiver that refers to the same open file.
 *
 * <p>Each message carries one data byte (a stream socket cannot carry control data alone) and one fd.
 * Received fds are close-on-exec ({@code MSG_CMSG_CLOEXEC}).
 *
 * <p>Both calls block, whatever the socket's mode: on a socket in non-blocking mode (one an event loop
 * also watches) {@link #send} waits for room in the socket's buffer and {@link #receive} for the message,
 * each with {@code poll}, instead of reporting {@code EAGAIN}.
 */
public final class FdPassing {
    private static final long CMSG_HEADER = cmsghdr.sizeof();                 // CMSG_LEN(0)
    private static final long CMSG_SPACE_ONE_INT = align8(CMSG_HEADER + Integer.BYTES);

    private FdPassing() {
    }

    /**
     * Sends {@code fd} over the connected Unix socket {@code socketFd}, waiting for room in the socket's
     * buffer if it is full. The sender keeps its own fd.
     *
     * @throws dev.panpipe.bindings.BrokenPipeException if the peer has closed the socket
     */
    public static void send(int socketFd, int fd) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment byteBuf = arena.allocate(1);
            byteBuf.set(ValueLayout.JAVA_BYTE, 0, (byte) 'F');
            MemorySegment control = arena.allocate(CMSG_SPACE_ONE_INT, 8);
            cmsghdr.cmsg_len(control, CMSG_HEADER + Integer.BYTES);
            cmsghdr.cmsg_level(control, linux_h.SOL_SOCKET());
            cmsghdr.cmsg_type(control, linux_h.SCM_RIGHTS());
            control.set(ValueLayout.JAVA_INT, CMSG_HEADER, fd);
            MemorySegment msg = message(arena, byteBuf, control);
            long sent;
            do {
                sent = Syscalls.sendmsg(socketFd, msg, linux_h.MSG_NOSIGNAL());
                if (sent == Syscalls.WOULD_BLOCK) await(socketFd, linux_h.POLLOUT());   // a non-blocking socket, full
            } while (sent == Syscalls.WOULD_BLOCK);
            if (sent != 1) throw new IOException("sendmsg sent " + sent + " bytes with the fd, not 1");
        }
    }

    /**
     * Receives one fd sent with {@link #send}, blocking until it arrives; the caller owns the returned fd.
     *
     * @throws EOFException if the peer closed the socket first
     * @throws SyscallException with EMFILE if this process has no free fd for it (the kernel drops the fd sent)
     * @throws IOException  if the message carried no fd, or more than one (those that arrived are closed)
     */
    public static int receive(int socketFd) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment byteBuf = arena.allocate(1);
            MemorySegment control = arena.allocate(CMSG_SPACE_ONE_INT, 8);
            MemorySegment msg = message(arena, byteBuf, control);
            long got;
            do {
                got = Syscalls.recvmsg(socketFd, msg, linux_h.MSG_CMSG_CLOEXEC());
                if (got == Syscalls.WOULD_BLOCK) await(socketFd, linux_h.POLLIN());   // a non-blocking socket, nothing yet
            } while (got == Syscalls.WOULD_BLOCK);
            if (got == 0) throw new EOFException("the peer closed the socket before sending an fd");
            long controlLength = msghdr.msg_controllen(msg);
            boolean rights = controlLength >= CMSG_HEADER + Integer.BYTES
                    && cmsghdr.cmsg_level(control) == linux_h.SOL_SOCKET()
                    && cmsghdr.cmsg_type(control) == linux_h.SCM_RIGHTS();
            // The kernel installs every fd the buffer has room for before it says what did not fit: the room
            // for one int is padded to 8 bytes, so a message of two fds arrives whole, and one of three or
            // more arrives cut (MSG_CTRUNC) with two installed. Whatever arrived is this process's to close.
            int installed = rights ? (int) ((Math.min(cmsghdr.cmsg_len(control), controlLength) - CMSG_HEADER) / Integer.BYTES) : 0;
            boolean truncated = (msghdr.msg_flags(msg) & linux_h.MSG_CTRUNC()) != 0;
            if (installed == 1 && !truncated) return control.get(ValueLayout.JAVA_INT, CMSG_HEADER);
            for (int i = 0; i < installed; i++) closeQuietly(control.get(ValueLayout.JAVA_INT, CMSG_HEADER + (long) Integer.BYTES * i));
            if (truncated && installed == 0) {
                // The buffer has room for two fds, so a cut with none installed means the kernel could not
                // install even the first: this process has no free fd (recvmsg does not fail for it, it
                // drops the fd and sets MSG_CTRUNC). The sent fd is lost; the caller needs to know why.
                throw SyscallException.of("recvmsg", "SCM_RIGHTS: no free fd to receive into, the fd sent was dropped", Errno.EMFILE);
            }
            if (!rights && !truncated) {
                throw new IOException("recvmsg: the message carried no SCM_RIGHTS fd (controllen=" + controlLength + ")");
            }
            throw new IOException("recvmsg: the message carried " + installed + (truncated ? " or more fds (control data truncated)" : " fds")
                    + ", expected one; " + (installed == 0 ? "none was" : "all were") + " closed");
        }
    }

    private static void closeQuietly(int fd) {
        try {
            Syscalls.close(fd);
        } catch (SyscallException ignored) {
            // close releases the fd even when it reports an error; the message is refused either way
        }
    }

    /** A msghdr carrying the one byte in {@code byteBuf} and {@code control} (NULL: none); package-private for tests. */
    static MemorySegment message(Arena arena, MemorySegment byteBuf, MemorySegment control) {
        MemorySegment iov = iovec.allocate(arena);
        iovec.iov_base(iov, byteBuf);
        iovec.iov_len(iov, 1);
        MemorySegment msg = msghdr.allocate(arena);
        msghdr.msg_iov(msg, iov);
        msghdr.msg_iovlen(msg, 1);
        msghdr.msg_control(msg, control);
        msghdr.msg_controllen(msg, control.byteSize());
        return msg;
    }

    /** Waits without limit until {@code fd} is ready for {@code events}, or reports an error or hang-up. */
    private static void await(int fd, int events) throws SyscallException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment pfd = pollfd.allocate(arena);
            pollfd.fd(pfd, fd);
            pollfd.events(pfd, (short) events);
            Syscalls.poll(pfd, 1, -1);
        }
    }

    private static long align8(long n) {
        return (n + 7) & ~7L;
    }
}
