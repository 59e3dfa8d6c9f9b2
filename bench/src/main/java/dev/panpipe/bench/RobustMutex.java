package dev.panpipe.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.Arrays;

/**
 * The lock {@link dev.panpipe.zerocopy.shared.SharedLock} was chosen over, as a baseline for
 * {@link SharedLockBenchmark}: a glibc {@code pthread_mutex_t} made {@code PTHREAD_PROCESS_SHARED} and
 * {@code PTHREAD_MUTEX_ROBUST}, locked and unlocked through downcalls from Java.
 *
 * <p>Linked here by hand: panpipe's generated bindings had these functions until nothing in panpipe used them
 * (commit b7fed2f), and a benchmark baseline is no reason to carry them in the library again. The two
 * attribute values are enumerators of glibc's {@code <pthread.h>} (the same on every port), and
 * {@code RobustMutexTest} checks them and {@link #BYTES} against gcc on the machine that builds the bench.
 * Each call is a plain downcall, as jextract would link it: {@code Linker.Option.critical} is only for
 * functions that never block, and {@code pthread_mutex_lock} blocks when the mutex is held.
 */
final class RobustMutex {
    private RobustMutex() {
    }

    /** {@code PTHREAD_PROCESS_SHARED} of {@code <pthread.h>}. */
    static final int PTHREAD_PROCESS_SHARED = 1;
    /** {@code PTHREAD_MUTEX_ROBUST} of {@code <pthread.h>}. */
    static final int PTHREAD_MUTEX_ROBUST = 1;
    /**
     * Bytes given to one mutex: a whole cache line, so that nothing else shares it (as {@code SharedLock}'s 64),
     * and at least {@code sizeof(pthread_mutex_t)}, which is 40 on x86-64 and 48 on aarch64.
     */
    static final long BYTES = 64;
    /** Bytes given to a {@code pthread_mutexattr_t} (4 on glibc), which lives only while a mutex is set up. */
    static final long ATTR_BYTES = 64;

    /** Linked on first use, so that reading the constants above links nothing. */
    private static final class Calls {
        static final MethodHandle ATTR_INIT = link("pthread_mutexattr_init", 1);
        static final MethodHandle ATTR_DESTROY = link("pthread_mutexattr_destroy", 1);
        static final MethodHandle ATTR_SETPSHARED = linkWithInt("pthread_mutexattr_setpshared");
        static final MethodHandle ATTR_SETROBUST = linkWithInt("pthread_mutexattr_setrobust");
        static final MethodHandle INIT = link("pthread_mutex_init", 2);
        static final MethodHandle DESTROY = link("pthread_mutex_destroy", 1);
        static final MethodHandle LOCK = link("pthread_mutex_lock", 1);
        static final MethodHandle UNLOCK = link("pthread_mutex_unlock", 1);

        /** {@code int f(void *, ...)} with {@code pointers} pointer arguments. */
        private static MethodHandle link(String name, int pointers) {
            ValueLayout[] args = new ValueLayout[pointers];
            Arrays.fill(args, ValueLayout.ADDRESS);
            return Linker.nativeLinker().downcallHandle(symbol(name), FunctionDescriptor.of(ValueLayout.JAVA_INT, args));
        }

        /** {@code int f(void *, int)}. */
        private static MethodHandle linkWithInt(String name) {
            return Linker.nativeLinker().downcallHandle(symbol(name),
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
        }

        private static MemorySegment symbol(String name) {
            return Linker.nativeLinker().defaultLookup().find(name)
                    .orElseThrow(() -> new UnsatisfiedLinkError(name + " not found in the C library"));
        }
    }

    /** Makes a process-shared robust mutex in {@code mutex}, {@link #BYTES} of (shared) memory. */
    static void init(MemorySegment mutex) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment attr = arena.allocate(ATTR_BYTES, 8);
            check("pthread_mutexattr_init", (int) Calls.ATTR_INIT.invokeExact(attr));
            try {
                check("pthread_mutexattr_setpshared", (int) Calls.ATTR_SETPSHARED.invokeExact(attr, PTHREAD_PROCESS_SHARED));
                check("pthread_mutexattr_setrobust", (int) Calls.ATTR_SETROBUST.invokeExact(attr, PTHREAD_MUTEX_ROBUST));
                check("pthread_mutex_init", (int) Calls.INIT.invokeExact(mutex.asSlice(0, BYTES), attr));
            } finally {
                check("pthread_mutexattr_destroy", (int) Calls.ATTR_DESTROY.invokeExact(attr));
            }
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static void destroy(MemorySegment mutex) {
        try {
            check("pthread_mutex_destroy", (int) Calls.DESTROY.invokeExact(mutex));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * {@code pthread_mutex_lock}. Nobody dies holding it here, so anything but 0 ({@code EOWNERDEAD} included)
     * means the benchmark is broken.
     */
    static void lock(MemorySegment mutex) {
        int r;
        try {
            r = (int) Calls.LOCK.invokeExact(mutex);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        if (r != 0) check("pthread_mutex_lock", r);
    }

    static void unlock(MemorySegment mutex) {
        int r;
        try {
            r = (int) Calls.UNLOCK.invokeExact(mutex);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        if (r != 0) check("pthread_mutex_unlock", r);
    }

    /** pthread calls return their error number (they do not set errno). */
    private static void check(String call, int r) {
        if (r != 0) throw new IllegalStateException(call + " returned error " + r);
    }

    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException e) return e;
        if (t instanceof Error e) throw e;
        return new IllegalStateException(t);
    }
}
