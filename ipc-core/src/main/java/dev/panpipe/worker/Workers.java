package dev.panpipe.worker;

import dev.panpipe.internal.Closer;
import dev.panpipe.internal.PrivateTempDirectory;
import dev.panpipe.internal.linux.EventLoop;
import dev.panpipe.internal.linux.LinuxWorker;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collection;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

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
    /** Names of workers whose start is under way (outside the lock): taken, and waited for by close. */
    private final Set<String> starting = new HashSet<>();
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
     * Threads may start workers at once: a JVM worker takes a few hundred milliseconds to connect, and the
     * wait holds nothing that another start, {@link #get} or {@link #all} needs. A {@link #close} waits for
     * the starts under way and then ends their workers with the others.
     *
     * @throws WorkerDiedException if it exits before connecting
     * @throws dev.panpipe.io.PeerTimeoutException if it does not connect in time (it is then ended)
     * @throws IllegalStateException if this is closed, before the start or while it was under way
     */
    public Worker start(WorkerSpec spec) throws IOException {
        String name = spec.name();
        synchronized (this) {
            if (closed) throw new IllegalStateException("Workers is closed");
            if (workers.containsKey(name) || starting.contains(name)) {
                throw new IllegalArgumentException("a worker named " + name + " exists already");
            }
            starting.add(name);
        }
        LinuxWorker w = null;
        boolean closedMeanwhile;
        try {
            w = LinuxWorker.start(spec, loop, directory);
        } finally {
            synchronized (this) {
                starting.remove(name);
                if (w != null) workers.put(name, w);   // closed meanwhile or not: close ends it with the others
                closedMeanwhile = closed;
                notifyAll();
            }
        }
        if (closedMeanwhile) throw new IllegalStateException("Workers was closed while worker " + name + " started");
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

    /**
     * Closes every worker (see {@link Worker#close()}), stops the event loop, removes the directory. Idempotent.
     * Starts under way are waited for first (each for at most its connect timeout), so that their workers are
     * ended too and their FIFOs are gone before the directory is removed.
     */
    @Override
    public synchronized void close() throws IOException {
        if (closed) return;
        closed = true;
        boolean interrupted = false;
        while (!starting.isEmpty()) {
            try {
                wait();
            } catch (InterruptedException e) {
                interrupted = true;      // a close finishes: the workers must not be left running
            }
        }
        if (interrupted) Thread.currentThread().interrupt();
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
