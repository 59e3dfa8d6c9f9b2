package dev.panpipe.zerocopy;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;

/**
 * Heap bytes allocated by the calling thread, read through a method handle (no boxed long, no argument
 * array, so reading it allocates nothing): {@code com.sun.management.ThreadMXBean} is looked up at run time
 * because this test module does not read java.management. ipc-core's tests have the same helper; test
 * classes are not shared between the modules.
 */
public final class CurrentThreadAllocation {
    private static final Object THREADS;
    private static final MethodHandle ALLOCATED_BYTES;

    static {
        try {
            THREADS = Class.forName("java.lang.management.ManagementFactory").getMethod("getThreadMXBean").invoke(null);
            ALLOCATED_BYTES = MethodHandles.publicLookup()
                    .findVirtual(Class.forName("com.sun.management.ThreadMXBean"), "getCurrentThreadAllocatedBytes",
                            MethodType.methodType(long.class))
                    .asType(MethodType.methodType(long.class, Object.class));
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private CurrentThreadAllocation() {
    }

    public static long bytes() {
        try {
            return (long) ALLOCATED_BYTES.invokeExact(THREADS);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }
}
