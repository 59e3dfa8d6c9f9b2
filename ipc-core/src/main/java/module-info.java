/**
 * panpipe's IPC objects: pipes, FIFOs, subprocesses started with {@code posix_spawn}, and pipelines.
 *
 * <p>The exported packages are platform-neutral; everything Linux-specific lives in the unexported
 * {@code dev.panpipe.internal.linux}, behind the interfaces of {@code dev.panpipe.io} and
 * {@code dev.panpipe.process}, so a Windows implementation can follow behind the same API.
 */
module dev.panpipe.core {
    requires transitive dev.panpipe.bindings;
    /* Only Codecs.fory touches it (loaded lazily): without the jar everything else works. */
    requires static org.apache.fory.core;

    exports dev.panpipe.io;
    exports dev.panpipe.connection;
    exports dev.panpipe.pixel;
    exports dev.panpipe.worker;
    exports dev.panpipe.process;
    exports dev.panpipe.internal.linux to dev.panpipe.zerocopy, dev.panpipe.cli;
    /* Closer: zero-copy's closes release several things the same way as this module's. */
    exports dev.panpipe.internal to dev.panpipe.zerocopy;
}
