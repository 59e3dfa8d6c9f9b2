package dev.panpipe.worker;

import dev.panpipe.connection.Codec;
import dev.panpipe.process.ExitStatus;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * A worker process as its parent sees it: what Python's subprocess-multipipe gives with
 * {@code start_subprocess}, {@code write_function} and {@code pipresults.pipedict[name]}.
 *
 * <p>Messages go to the worker's stdin as frames; its results come back through a FIFO (or its stdout)
 * and wait in a bounded inbox, filled by the one event loop of its {@link Workers}. Take them with
 * {@link #take(Codec)}, {@link #poll(Codec, Duration)} or {@link #stream(Codec)}.
 *
 * <p>A worker that dies is noticed at once: a pending or later {@code take} (once the results it did send
 * are consumed) and any {@code send} throw {@link WorkerDiedException}, never hang. A worker that ends
 * cleanly after {@link #endInput()} ends the stream: {@code take} then throws
 * {@link dev.panpipe.connection.ConnectionClosedException} and {@code stream} simply ends.
 */
public interface Worker extends AutoCloseable {
    String name();

    long pid();

    /**
     * Sends {@code value} to the worker's stdin. Blocks while the pipe is full (the worker is behind). Threads
     * may send at once: each message goes whole, one after another, in each thread's order.
     */
    <T> void send(T value, Codec<T> codec) throws IOException;

    /** Sends raw bytes (frame type 1). */
    void send(byte[] payload) throws IOException;

    /** Sends raw bytes (frame type 1) from a segment, without a copy when it is native and large. */
    void send(MemorySegment payload) throws IOException;

    /** Closes the worker's stdin: it sees end of input, finishes its work and exits. */
    void endInput() throws IOException;

    /** The next result, waiting for it. */
    <T> T take(Codec<T> codec) throws IOException, InterruptedException;

    /** The next result as it came, waiting for it; null when the worker has finished and everything was taken. */
    Result take() throws IOException, InterruptedException;

    /**
     * The next result if one comes within {@code timeout} (zero: just look; one longer than about 292 years
     * is capped there).
     *
     * @throws IllegalArgumentException if {@code timeout} is negative
     * @throws NullPointerException     if {@code timeout} is null: {@link #take(Codec)} waits without limit
     */
    <T> Optional<T> poll(Codec<T> codec, Duration timeout) throws IOException, InterruptedException;

    /**
     * The results as a stream that ends when the worker has finished cleanly and all were taken. A failure
     * (a dead worker, a protocol error) surfaces as an {@link java.io.UncheckedIOException}.
     */
    <T> Stream<T> stream(Codec<T> codec);

    /** Messages sent so far. */
    long sent();

    /** Results received so far (taken or waiting in the inbox; the hello not counted). */
    long answered();

    /** Results dropped by {@link InboxOverflow#DROP_OLDEST}. */
    long dropped();

    /**
     * Sends {@code signal} (see {@link dev.panpipe.process.Signals}) to the worker process: through its pidfd
     * where the kernel has them, else by pid under the lock that reaps it. A no-op once the worker has been
     * reaped (by {@link #close()}, say), so the signal never reaches another process that was given its pid
     * since, unlike {@code ProcessHandle.of(pid()).destroy()}. Safe from any thread, also while another
     * closes the worker, and from a signal handler's thread.
     */
    void signal(int signal) throws IOException;

    /** How the worker ended, if it has. */
    Optional<ExitStatus> exitStatus() throws IOException;

    /**
     * Closes stdin, waits for the worker to drain and exit (up to the grace period), then SIGTERM, then
     * SIGKILL; removes its FIFO. Results not taken yet are discarded. Idempotent. An interrupt of the calling
     * thread shortens none of this and stays set.
     */
    @Override
    void close() throws IOException;
}
