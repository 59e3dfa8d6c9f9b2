package dev.panpipe.zerocopy;

import dev.panpipe.bindings.Syscalls;
import dev.panpipe.bindings.linux.cmsghdr;
import dev.panpipe.bindings.linux.linux_h;
import dev.panpipe.bindings.linux.msghdr;
import dev.panpipe.internal.linux.LinuxSockets;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.EOFException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * What {@link FdPassing#receive} does with a message that is not one fd: the peer is another process, and
 * every fd the kernel installs on the way in belongs to this one, refused or not. NoLeaks checks that none
 * is left open.
 */
@Timeout(30)
@ExtendWith(NoLeaks.class)
class FdPassingTest {
    @Test
    void shouldCloseEveryFdOfAMessageThatCarriesMoreThanOne() throws Exception {
        // Up to 16 fit the receiver's buffer (room for credentials, two fds and a pidfd) and arrive whole; 17 or
        // more arrive cut (MSG_CTRUNC) with 16 installed. Either way they used to stay open, one returned as if it were all.
        for (int count : new int[]{2, 3, 5, 17}) {
            int[] sockets = LinuxSockets.socketpair();
            try (SharedMemory shm = SharedMemory.create("many", 4096)) {
                int[] fds = new int[count];
                java.util.Arrays.fill(fds, (int) shm.nativeHandle());
                sendRaw(sockets[0], fds);
                IOException e = assertThrows(IOException.class, () -> FdPassing.receive(sockets[1]), count + " fds");
                assertTrue(e.getMessage().contains("expected one"), e.getMessage());
                FdPassing.send(sockets[0], (int) shm.nativeHandle());   // the socket still works for the next one
                Syscalls.close(FdPassing.receive(sockets[1]));
            } finally {
                Syscalls.close(sockets[0]);
                Syscalls.close(sockets[1]);
            }
        }
    }

    @Test
    void shouldRefuseAMessageWithNoFd() throws Exception {
        int[] sockets = LinuxSockets.socketpair();
        try {
            sendRaw(sockets[0], new int[0]);
            IOException e = assertThrows(IOException.class, () -> FdPassing.receive(sockets[1]));
            assertTrue(e.getMessage().contains("no SCM_RIGHTS"), e.getMessage());
        } finally {
            Syscalls.close(sockets[0]);
            Syscalls.close(sockets[1]);
        }
    }

    /**
     * A datagram or seqpacket peer may send an fd with no data byte: recvmsg returns 0 with the fd installed.
     * receive took that 0 for the end of the stream and threw EOFException, leaving the installed fd open.
     */
    @Test
    void shouldNotTakeAnEmptyMessageThatCarriesAnFdForTheEndOfTheStream() throws Exception {
        int[] sockets = seqpacketPair();
        try (SharedMemory shm = SharedMemory.create("empty", 4096)) {
            shm.segment().set(ValueLayout.JAVA_LONG, 0, 7L);
            sendRaw(sockets[0], new int[]{(int) shm.nativeHandle()}, 0);
            try (SharedMemory received = SharedMemory.map(FdPassing.receive(sockets[1]))) {
                assertEquals(7L, received.segment().get(ValueLayout.JAVA_LONG, 0), "the fd that came is the shared memory's");
            }
            Syscalls.close(sockets[0]);
            sockets[0] = -1;
            assertThrows(EOFException.class, () -> FdPassing.receive(sockets[1]), "the peer's close is still the end");
        } finally {
            if (sockets[0] >= 0) Syscalls.close(sockets[0]);
            Syscalls.close(sockets[1]);
        }
    }

    /**
     * A receiving socket with SO_PASSCRED (a server that checks its peers' credentials) gets an
     * SCM_CREDENTIALS message ahead of SCM_RIGHTS. The control buffer had room for SCM_RIGHTS alone: the
     * credentials filled it, the kernel dropped the fd sent, and receive blamed EMFILE, every time.
     */
    @Test
    void shouldReceiveAnFdOnASocketThatAlsoPassesCredentials() throws Throwable {
        int[] sockets = LinuxSockets.socketpair();
        try (SharedMemory shm = SharedMemory.create("creds", 4096); Arena arena = Arena.ofConfined()) {
            MemorySegment on = arena.allocateFrom(ValueLayout.JAVA_INT, 1);
            MethodHandle setsockopt = Linker.nativeLinker().downcallHandle(
                    Linker.nativeLinker().defaultLookup().find("setsockopt").orElseThrow(),
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT,
                            ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
            assertEquals(0, (int) setsockopt.invokeExact(sockets[1], linux_h.SOL_SOCKET(), SO_PASSCRED, on, Integer.BYTES));
            shm.segment().set(ValueLayout.JAVA_LONG, 0, 9L);
            FdPassing.send(sockets[0], (int) shm.nativeHandle());
            try (SharedMemory received = SharedMemory.map(FdPassing.receive(sockets[1]))) {
                assertEquals(9L, received.segment().get(ValueLayout.JAVA_LONG, 0), "the fd that came is the shared memory's");
            }
        } finally {
            Syscalls.close(sockets[0]);
            Syscalls.close(sockets[1]);
        }
    }

    private static final int SO_PASSCRED = 16;

    private static int[] seqpacketPair() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment sv = arena.allocate(ValueLayout.JAVA_INT, 2);
            Syscalls.socketpair(linux_h.AF_UNIX(), linux_h.SOCK_SEQPACKET() | linux_h.SOCK_CLOEXEC(), 0, sv);
            return new int[]{sv.getAtIndex(ValueLayout.JAVA_INT, 0), sv.getAtIndex(ValueLayout.JAVA_INT, 1)};
        }
    }

    /**
     * A socket in non-blocking mode whose buffer is full: sendmsg says EAGAIN, which send used to report as
     * "sendmsg sent -1 bytes with the fd, not 1". Like receive, send blocks: it waits for room.
     */
    @Test
    void shouldWaitForRoomToSendOverAFullNonBlockingSocket() throws Exception {
        int[] sockets = LinuxSockets.socketpair();
        try (SharedMemory shm = SharedMemory.create("room", 4096); Arena arena = Arena.ofConfined();
             ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            nonBlocking(sockets[0]);
            MemorySegment chunk = arena.allocate(65536);
            long filled = 0;
            for (long n; (n = Syscalls.write(sockets[0], chunk, chunk.byteSize())) != Syscalls.WOULD_BLOCK; ) filled += n;
            assertTrue(filled > 0, "the socket took some bytes before it was full");
            Future<?> sending = pool.submit(() -> {
                FdPassing.send(sockets[0], (int) shm.nativeHandle());
                return null;
            });
            Thread.sleep(200);
            assertFalse(sending.isDone(), "send waits while the socket is full");
            for (long drained = 0; drained < filled; ) {
                drained += Syscalls.read(sockets[1], chunk, Math.min(chunk.byteSize(), filled - drained));
            }
            sending.get(10, TimeUnit.SECONDS);
            shm.segment().set(ValueLayout.JAVA_LONG, 0, 0x5EEDL);
            try (SharedMemory received = SharedMemory.map(FdPassing.receive(sockets[1]))) {
                assertEquals(0x5EEDL, received.segment().get(ValueLayout.JAVA_LONG, 0), "the fd that came is the shared memory's");
            }
        } finally {
            Syscalls.close(sockets[0]);
            Syscalls.close(sockets[1]);
        }
    }

    /** On a non-blocking socket, receive waits for the fd until the peer sends it, and ends at the peer's close. */
    @Test
    void shouldWaitForTheFdOnANonBlockingSocketUntilThePeerSendsIt() throws Exception {
        int[] sockets = LinuxSockets.socketpair();
        try (SharedMemory shm = SharedMemory.create("later", 4096);
             ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            nonBlocking(sockets[1]);
            Future<Integer> receiving = pool.submit(() -> FdPassing.receive(sockets[1]));
            Thread.sleep(200);
            assertFalse(receiving.isDone(), "nothing was sent yet: receive waits");
            shm.segment().set(ValueLayout.JAVA_LONG, 0, 42L);
            FdPassing.send(sockets[0], (int) shm.nativeHandle());
            try (SharedMemory received = SharedMemory.map(receiving.get(10, TimeUnit.SECONDS))) {
                assertEquals(42L, received.segment().get(ValueLayout.JAVA_LONG, 0));
            }
            Future<Integer> orphaned = pool.submit(() -> FdPassing.receive(sockets[1]));
            Thread.sleep(200);
            assertFalse(orphaned.isDone(), "receive waits again for the next one");
            Syscalls.close(sockets[0]);
            sockets[0] = -1;
            ExecutionException e = assertThrows(ExecutionException.class, () -> orphaned.get(10, TimeUnit.SECONDS));
            assertInstanceOf(EOFException.class, e.getCause(), "the peer's close ends the wait");
        } finally {
            if (sockets[0] >= 0) Syscalls.close(sockets[0]);
            Syscalls.close(sockets[1]);
        }
    }

    private static void nonBlocking(int fd) throws IOException {
        Syscalls.fcntl(fd, linux_h.F_SETFL(), Syscalls.fcntl(fd, linux_h.F_GETFL(), 0) | linux_h.O_NONBLOCK());
    }

    /** One byte with {@code fds} as SCM_RIGHTS (no control message for none), as a peer of any kind may send. */
    private static void sendRaw(int socket, int[] fds) throws IOException {
        sendRaw(socket, fds, 1);
    }

    /** {@code dataBytes} (0 or 1) with {@code fds}: a datagram or seqpacket peer may send control data alone. */
    private static void sendRaw(int socket, int[] fds, int dataBytes) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment data = arena.allocate(1);
            data.set(ValueLayout.JAVA_BYTE, 0, (byte) 'F');
            MemorySegment control = MemorySegment.NULL;
            if (fds.length > 0) {
                long length = cmsghdr.sizeof() + (long) Integer.BYTES * fds.length;
                control = arena.allocate((length + 7) & ~7L, 8);
                cmsghdr.cmsg_len(control, length);
                cmsghdr.cmsg_level(control, linux_h.SOL_SOCKET());
                cmsghdr.cmsg_type(control, linux_h.SCM_RIGHTS());
                for (int i = 0; i < fds.length; i++) control.set(ValueLayout.JAVA_INT, cmsghdr.sizeof() + 4L * i, fds[i]);
            }
            MemorySegment msg = FdPassing.message(arena, data, control);
            msghdr.msg_iovlen(msg, dataBytes);
            assertEquals(dataBytes, Syscalls.sendmsg(socket, msg, linux_h.MSG_NOSIGNAL()));
        }
    }
}
