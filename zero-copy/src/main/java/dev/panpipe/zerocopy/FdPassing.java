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
    /** {@code SCM_PIDFD} (Linux 6.5): the sender's pidfd, installed in the receiver when it set SO_PASSPIDFD. */
    private static final int SCM_PIDFD = 4;
    /**
     * The receiver's control buffer: the kernel writes what the receiving socket's options ask for ahead of the
     * fds (SO_PASSCRED: a 12-byte {@code struct ucred}) and after them (SO_PASSPIDFD: one more fd), so room
     * for those as well as for two fds sent. With room for SCM_RIGHTS alone, credentials filled it and the
     * kernel dropped the fd sent, every time.
     */
    private static final long CONTROL_SPACE = align8(CMSG_HEADER + 12) + align8(CMSG_HEADER + 2L * Integer.BYTES) + CMSG_SPACE_ONE_INT;

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
            MemorySegment control = arena.allocate(CONTROL_SPACE, 8);
            MemorySegment msg = message(arena, byteBuf, control);
            long got;
            do {
                got = Syscalls.recvmsg(socketFd, msg, linux_h.MSG_CMSG_CLOEXEC());
                if (got == Syscalls.WOULD_BLOCK) await(socketFd, linux_h.POLLIN());   // a non-blocking socket, nothing yet
            } while (got == Syscalls.WOULD_BLOCK);
            long controlLength = msghdr.msg_controllen(msg);
            boolean truncated = (msghdr.msg_flags(msg) & linux_h.MSG_CTRUNC()) != 0;
            // Every fd the kernel installed is this process's to close, whatever else is wrong with the message:
            // those of SCM_RIGHTS (all it had room for: a message of more fds than fit arrives cut, MSG_CTRUNC)
            // and a pidfd of SCM_PIDFD. A datagram or seqpacket peer may send them with no data byte, so even a
            // recvmsg that returned 0 is looked at before it is taken for the end of the stream.
            int[] fds = new int[(int) (CONTROL_SPACE / Integer.BYTES)];
            int installed = 0;
            boolean rights = false;
            for (long at = 0; at + CMSG_HEADER <= controlLength; ) {
                MemorySegment cmsg = control.asSlice(at);
                long length = cmsghdr.cmsg_len(cmsg);
                if (length < CMSG_HEADER) break;
                long end = Math.min(at + length, controlLength);
                int type = cmsghdr.cmsg_type(cmsg);
                if (cmsghdr.cmsg_level(cmsg) == linux_h.SOL_SOCKET() && (type == linux_h.SCM_RIGHTS() || type == SCM_PIDFD)) {
                    for (long i = at + CMSG_HEADER; i + Integer.BYTES <= end; i += Integer.BYTES) {
                        int fd = control.get(ValueLayout.JAVA_INT, i);
                        if (type == linux_h.SCM_RIGHTS()) {
                            rights = true;
                            fds[installed++] = fd;
                        } else if (fd >= 0) {
                            closeQuietly(fd);   // a pidfd nobody asked this call for (negative: the kernel's error)
                        }
                    }
                }
                at += align8(length);
            }
            if (got == 0 && controlLength == 0 && !truncated) throw new EOFException("the peer closed the socket before sending an fd");
            if (installed == 1 && !truncated) return fds[0];
            for (int i = 0; i < installed; i++) closeQuietly(fds[i]);
            if (truncated && !rights) {
                // The buffer has room for two fds after credentials, so a cut with none installed means the kernel
                // could not install even the first: this process has no free fd (recvmsg does not fail for it, it
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
