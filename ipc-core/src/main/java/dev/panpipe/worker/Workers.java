package dev.panpipe.worker;

import dev.panpipe.internal.Closer;
import dev.panpipe.internal.PrivateTempDirectory;
import dev.panpipe.internal.linux.EventLoop;
import dev.panpipe.internal.linux.LinuxWorker;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Starts workers and owns what they share: one event loop thread that reads every worker's results
 * (no thread per pipe, no sleep-polling) and one private 0700 directory for their result FIFOs. Workers
 * are found by name, like Python's {@code pipresults.pipedict[name]}.
 *
 * {@snippet :
 * try (Workers workers = Workers.create()) {
 *     Worker gray = workers.start(WorkerSpec.java("gray", GrayWorker.class));
 *     gray.send(frame, Codecs.pixels());
 *     PixelFrame out = gray.take(Codecs.pixels());
 * }   // every worker: stdin closed, drained, exited (or TERM, KILL); FIFOs and the directory removed
 * }
 *
 * <p>The directory is {@code panpipe-workers-<pid>-<random>} in {@code java.io.tmpdir}. A worker's FIFO is
 * unlinked as soon as the worker has connected through it. A JVM that is killed leaves its directory
 * behind (nothing runs at SIGKILL), so {@link #create()} first removes the directories of this user's
 * panpipe JVMs that no longer run ({@link PrivateTempDirectory}): the survivor cleans up after the dead.
 */
public final class Workers implements AutoCloseable {
    static final String PREFIX = "panpipe-workers-";

    private final EventLoop loop;
    private final Path directory;
    private final Map<String, LinuxWorker> workers = new LinkedHashMap<>();
    private boolean closed;

    private Workers(EventLoop loop, Path directory) {
        this.loop = loop;
        this.directory = directory;
    }

    public static Workers create() throws IOException {
        Path dir = PrivateTempDirectory.create(PREFIX);
        try {
            return new Workers(EventLoop.start("panpipe-workers"), dir);
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(dir);
            throw e;
        }
    }

    /**
     * Starts a worker and waits until it has connected (sent its hello), up to the spec's connect timeout.
     *
     * @throws WorkerDiedException if it exits before connecting
     * @throws dev.panpipe.io.PeerTimeoutException if it does not connect in time (it is then ended)
     */
    public synchronized Worker start(WorkerSpec spec) throws IOException {
        if (closed) throw new IllegalStateException("Workers is closed");
        if (workers.containsKey(spec.name())) throw new IllegalArgumentException("a worker named " + spec.name() + " exists already");
        LinuxWorker w = LinuxWorker.start(spec, loop, directory);
        workers.put(spec.name(), w);
        return w;
    }

    /** The worker named {@code name}. @throws IllegalArgumentException if there is none */
    public synchronized Worker get(String name) {
        Worker w = workers.get(name);
        if (w == null) throw new IllegalArgumentException("no worker named " + name + " (have " + workers.keySet() + ")");
        return w;
    }

    public synchronized Collection<Worker> all() {
        return List.copyOf(workers.values());
    }

    /** The private directory holding the result FIFOs. */
    public Path directory() {
        return directory;
    }

    /** Closes every worker (see {@link Worker#close()}), stops the event loop, removes the directory. Idempotent. */
    @Override
    public synchronized void close() throws IOException {
        if (closed) return;
        closed = true;
        // Every step runs whatever the ones before it threw (unchecked exceptions included): one worker that
        // fails to close must not leave the others running, the loop thread alive or the directory behind.
        Closer closer = new Closer();
        for (LinuxWorker w : workers.values()) closer.run(w::endInputQuietly);   // all of them start finishing at once
        LinuxWorker.closeAll(workers.values(), closer);                          // and end together
        closer.run(loop::close);
        closer.run(() -> Files.deleteIfExists(directory));
        closer.throwFailure();
    }
}
