package dev.panpipe.zerocopy.ring;

import dev.panpipe.bindings.Syscalls;
import dev.panpipe.zerocopy.CurrentThreadAllocation;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Child JVM of {@link WaitCallsAllocationTest}, run with {@code -Xint} so that every call goes the way a path
 * taken now and then goes (interpreted, the method handles not constants): makes each system call a ring
 * end's wait makes 300 times and prints, per call, the most bytes one call allocated after the first
 * ({@code name bytes callNumber}).
 */
public final class WaitCallsMain {
    private static final int CALLS = 300;

    private WaitCallsMain() {
    }

    public static void main(String[] args) throws Exception {
        for (int i = 0; i < CALLS; i++) CurrentThreadAllocation.bytes();   // the probe's own handle, customized first
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment word = arena.allocate(ValueLayout.JAVA_INT);
            report("sched_getcpu", () -> Syscalls.sched_getcpu());
            report("futex_wake", () -> Syscalls.futex_wake(word, 1));
            report("futex_wait", () -> Syscalls.futex_wait(word, 1, 0));   // the word holds 0: returns at once
            report("poll", () -> Syscalls.poll(MemorySegment.NULL, 0, 0));
        }
    }

    private interface Call {
        void run() throws Exception;
    }

    private static void report(String name, Call call) throws Exception {
        call.run();   // the first call links the handle
        long worst = 0;
        int worstAt = 0;
        for (int i = 2; i <= CALLS; i++) {
            long before = CurrentThreadAllocation.bytes();
            call.run();
            long allocated = CurrentThreadAllocation.bytes() - before;
            if (allocated > worst) {
                worst = allocated;
                worstAt = i;
            }
        }
        System.out.println(name + " " + worst + " " + worstAt);
    }
}
