package dev.panpipe.zerocopy;

import dev.panpipe.bindings.Syscalls;
import dev.panpipe.bindings.linux.cmsghdr;
import dev.panpipe.bindings.linux.linux_h;
import dev.panpipe.internal.linux.LinuxSockets;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.EOFException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
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
        // Two fit the receiver's buffer (one int, padded to 8 bytes) and arrive whole; three or more arrive cut
        // (MSG_CTRUNC) with two installed. Either way they used to stay open, one returned as if it were all.
        for (int count : new int[]{2, 3, 5}) {
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
            assertEquals(1, Syscalls.sendmsg(socket, msg, linux_h.MSG_NOSIGNAL()));
        }
    }
}
