/**
 * Zero-copy transport: shared memory mapped as {@link java.lang.foreign.MemorySegment}s.
 */
module dev.panpipe.zerocopy {
    requires transitive dev.panpipe.core;

    exports dev.panpipe.zerocopy;
}
