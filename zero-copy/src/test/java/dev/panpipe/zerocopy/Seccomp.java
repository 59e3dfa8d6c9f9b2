package dev.panpipe.zerocopy;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * A sandbox for one thread: a seccomp filter that fails pidfd_open with EPERM, as Docker's default profile did
 * before 20.10 and as a systemd SystemCallFilter= without it does. Installed on the calling thread only, which
 * takes it with it when it ends: run the sandboxed part on a thread of its own.
 */
public final class Seccomp {
    private static final int PR_SET_SECCOMP = 22;
    private static final int PR_SET_NO_NEW_PRIVS = 38;
    private static final int SECCOMP_MODE_FILTER = 2;
    private static final int NR_PIDFD_OPEN = 434;            // the same number on every architecture
    private static final int SECCOMP_RET_ERRNO = 0x0005_0000;
    private static final int SECCOMP_RET_ALLOW = 0x7fff_0000;
    private static final int EPERM = 1;

    private Seccomp() {
    }

    /** Installs on the calling thread a seccomp filter that fails pidfd_open with EPERM; false if this kernel cannot. */
    public static boolean denyPidfdOpenToThisThread() throws Throwable {
        Linker linker = Linker.nativeLinker();
        MemorySegment prctl = linker.defaultLookup().find("prctl").orElseThrow();
        MethodHandle prctlLongs = linker.downcallHandle(prctl, FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT,
                ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG), Linker.Option.firstVariadicArg(1));
        MethodHandle prctlPointer = linker.downcallHandle(prctl, FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT,
                ValueLayout.JAVA_LONG, ValueLayout.ADDRESS), Linker.Option.firstVariadicArg(1));
        if ((int) prctlLongs.invokeExact(PR_SET_NO_NEW_PRIVS, 1L, 0L, 0L, 0L) != 0) return false;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment filter = arena.allocate(4 * 8L, 8);
            instruction(filter, 0, 0x20, 0, 0, 0);                          // BPF_LD|BPF_W|BPF_ABS: seccomp_data.nr
            instruction(filter, 1, 0x15, 0, 1, NR_PIDFD_OPEN);              // BPF_JMP|BPF_JEQ|BPF_K
            instruction(filter, 2, 0x06, 0, 0, SECCOMP_RET_ERRNO | EPERM);  // BPF_RET|BPF_K
            instruction(filter, 3, 0x06, 0, 0, SECCOMP_RET_ALLOW);
            MemorySegment program = arena.allocate(16, 8);                  // struct sock_fprog
            program.set(ValueLayout.JAVA_SHORT, 0, (short) 4);
            program.set(ValueLayout.ADDRESS, 8, filter);
            return (int) prctlPointer.invokeExact(PR_SET_SECCOMP, (long) SECCOMP_MODE_FILTER, program) == 0;
        }
    }

    private static void instruction(MemorySegment filter, int i, int code, int jt, int jf, int k) {
        long at = i * 8L;
        filter.set(ValueLayout.JAVA_SHORT, at, (short) code);
        filter.set(ValueLayout.JAVA_BYTE, at + 2, (byte) jt);
        filter.set(ValueLayout.JAVA_BYTE, at + 3, (byte) jf);
        filter.set(ValueLayout.JAVA_INT, at + 4, k);
    }
}
