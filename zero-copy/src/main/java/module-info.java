/**
 * Zero-copy transport: shared memory mapped as {@link java.lang.foreign.MemorySegment}s, frame rings over
 * it ({@code dev.panpipe.zerocopy.ring}), pixel kernels that write into such memory, and what processes
 * share in it: values, arrays and a lock
 * ({@code dev.panpipe.zerocopy.shared}) and a many-producer, many-consumer queue
 * ({@code dev.panpipe.zerocopy.queue}).
 */
module dev.panpipe.zerocopy {
    requires transitive dev.panpipe.core;

    exports dev.panpipe.zerocopy;
    exports dev.panpipe.zerocopy.kernel;
    exports dev.panpipe.zerocopy.ring;
    exports dev.panpipe.zerocopy.shared;
    exports dev.panpipe.zerocopy.queue;
}
