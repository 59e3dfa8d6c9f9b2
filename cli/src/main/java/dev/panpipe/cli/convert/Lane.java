package dev.panpipe.cli.convert;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;

/**
 * One worker as {@code panpipe convert} sees it: RGB8 images go in through {@link #claim}/{@link #commit}
 * (in the command's thread) and converted images come out through {@link #drain} (in a thread of its own).
 */
interface Lane extends AutoCloseable {
    String name();

    /** Room for a {@code width x height} RGB8 image, to be filled and then {@link #commit committed}; may wait for room. */
    MemorySegment claim(int width, int height) throws IOException;

    /** Sends the claimed image; its result will be written as {@code name}.png. */
    void commit(String name) throws IOException;

    /** Gives the claimed room back unsent. */
    void abort();

    /** No more images: the worker finishes what it has and ends its results. */
    void endInput() throws IOException;

    /** Takes every result until the worker ends them, writing each as DIR/name.png and calling {@code step}. */
    void drain(Path dir, Runnable step) throws Exception;

    @Override
    void close() throws IOException;
}
