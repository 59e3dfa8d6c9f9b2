package dev.panpipe.internal.linux;

import dev.panpipe.bindings.SyscallException;
import dev.panpipe.bindings.Syscalls;
import dev.panpipe.bindings.linux.linux_h;
import dev.panpipe.testing.OneCarrierSteps;
import dev.panpipe.testing.VirtualThreads;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;

import static dev.panpipe.testing.OneCarrierSteps.check;

/**
 * Virtual threads reading and writing a pipe end whose description is shared, as a worker's inherited stdin and
 * stdout are ({@link FdHandle#ownShared}: its blocking mode left alone), with a single carrier, the peer another
 * virtual thread. A blocking read(2) or write(2) of that description used to pin the carrier until the peer
 * came, and the peer could then never run. Run by {@link InheritedEndOneCarrierTest}.
 */
public final class InheritedEndOneCarrierMain {
    private static final long STEP_SECONDS = OneCarrierSteps.STEP_SECONDS;

    public static void main(String[] args) throws Exception {
        OneCarrierSteps.main("panpipe-vt-inherited-", args, (steps, dir) -> {
            steps.step("a read of a shared end waits parked for a virtual writer", InheritedEndOneCarrierMain::read);
            steps.step("a write to a full shared end waits parked for a virtual reader", InheritedEndOneCarrierMain::write);
        });
    }

    private static void read() throws Exception {
        int[] fds = pipe();
        try (FdReadEnd in = new FdReadEnd(FdHandle.ownShared(fds[0], "shared read end"));
             FdWriteEnd out = new FdWriteEnd(FdHandle.own(fds[1], "write end"))) {
            var got = VirtualThreads.call(() -> {
                byte[] b = new byte[16];
                int n = in.read(b, 0, b.length);              // nothing there yet: waits
                return new String(b, 0, n, StandardCharsets.UTF_8);
            });
            Thread.sleep(200);                                 // the reader is in its wait by now
            VirtualThreads.call(() -> out.write("hello".getBytes(StandardCharsets.UTF_8), 0, 5)).get(STEP_SECONDS, TimeUnit.SECONDS);
            String s = got.get(STEP_SECONDS, TimeUnit.SECONDS);
            check("hello".equals(s), "read " + s);
        }
    }

    private static void write() throws Exception {
        int[] fds = pipe();
        int size = 1 << 20;                                    // sixteen times what the pipe holds
        try (FdReadEnd in = new FdReadEnd(FdHandle.own(fds[0], "read end"));
             FdWriteEnd out = new FdWriteEnd(FdHandle.ownShared(fds[1], "shared write end"));
             Arena arena = Arena.ofShared()) {
            MemorySegment data = arena.allocate(size);
            var wrote = VirtualThreads.call(() -> out.write(data));
            Thread.sleep(200);                                 // the writer has filled the pipe and waits
            var read = VirtualThreads.call(() -> {
                MemorySegment sink = Arena.ofAuto().allocate(size);
                return in.readFully(sink);
            });
            check(wrote.get(STEP_SECONDS, TimeUnit.SECONDS) == size, "wrote " + wrote.getNow(null));
            check(read.get(STEP_SECONDS, TimeUnit.SECONDS) == size, "read " + read.getNow(null));
        }
    }

    private static int[] pipe() throws SyscallException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment fds = arena.allocate(ValueLayout.JAVA_INT, 2);
            Syscalls.pipe2(fds, linux_h.O_CLOEXEC());
            return new int[] {fds.getAtIndex(ValueLayout.JAVA_INT, 0), fds.getAtIndex(ValueLayout.JAVA_INT, 1)};
        }
    }
}
