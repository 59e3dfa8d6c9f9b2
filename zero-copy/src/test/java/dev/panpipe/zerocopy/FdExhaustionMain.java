package dev.panpipe.zerocopy;

import dev.panpipe.bindings.Syscalls;
import dev.panpipe.internal.linux.LinuxSockets;
import dev.panpipe.testing.FdExhaustion;
import dev.panpipe.testing.FdExhaustion.Scenario;
import dev.panpipe.zerocopy.queue.SharedQueue;
import dev.panpipe.zerocopy.ring.FrameConsumer;
import dev.panpipe.zerocopy.ring.FrameProducer;
import dev.panpipe.zerocopy.ring.FrameRing;
import dev.panpipe.zerocopy.ring.WaitStrategy;
import dev.panpipe.zerocopy.shared.SharedLock;

import java.util.List;
import java.util.concurrent.TimeUnit;

/** {@link FdExhaustion} over zero-copy's operations that open fds; run by {@link FdExhaustionTest}. */
final class FdExhaustionMain {
    private FdExhaustionMain() {
    }

    public static void main(String[] args) throws Throwable {
        // /dev/shm is the machine's: a fixed name would meet another run's (EEXIST), or one a killed run left
        String name = "exhaust-" + ProcessHandle.current().pid();
        List<Scenario> scenarios = List.of(
                new Scenario("SharedMemory.create", () -> SharedMemory.create("exhaust", 4096)),
                new Scenario("SharedMemory.createNamed", () -> SharedMemory.createNamed(name, 4096)),
                // a ring and both its ends in one process: each end watches its peer (a pidfd) and may sleep
                new Scenario("FrameRing with both ends", () -> {
                    FrameRing ring = FrameRing.create(2, 64);
                    try {
                        FrameProducer out = ring.producer(WaitStrategy.doorbell());
                        FrameConsumer in = ring.consumer(WaitStrategy.doorbell());
                        out.claimBytes(8).commit();
                        in.take().release();
                        // timed waits that sleep, and look at the peer (pidfd) while they do
                        if (in.poll(20, TimeUnit.MILLISECONDS) != null) throw new AssertionError("an empty ring gave a frame");
                        out.claimBytes(8).commit();
                        out.claimBytes(8).commit();
                        if (out.claim(8, 1, dev.panpipe.pixel.PixelFormat.GRAY8, 20, TimeUnit.MILLISECONDS) != null) throw new AssertionError("a full ring gave a slot");
                        return () -> {
                            try (ring; out; in) {
                                // ends, then the mapping
                            }
                        };
                    } catch (Throwable t) {
                        ring.close();
                        throw t;
                    }
                }),
                new Scenario("SharedQueue.create", () -> SharedQueue.create("exhaust", 4, 16)),
                new Scenario("SharedLock.create", () -> SharedLock.create("exhaust")),
                // receiving an fd needs a free fd: at the limit the kernel drops it and says MSG_CTRUNC
                new Scenario("FdPassing.send + receive", () -> {
                    int[] sockets = LinuxSockets.socketpair();
                    try (SharedMemory shm = SharedMemory.create("passed", 4096)) {
                        FdPassing.send(sockets[0], (int) shm.nativeHandle());
                        Syscalls.close(FdPassing.receive(sockets[1]));
                    } finally {
                        Syscalls.close(sockets[0]);
                        Syscalls.close(sockets[1]);
                    }
                    return () -> { };
                }));
        System.exit(FdExhaustion.run(scenarios, "dev.panpipe.bindings", "dev.panpipe.core", "dev.panpipe.zerocopy") ? 0 : 1);
    }
}
