package dev.panpipe.internal.linux;

import dev.panpipe.bindings.BrokenPipeException;
import dev.panpipe.connection.Codec;
import dev.panpipe.connection.Codecs;
import dev.panpipe.connection.Connection;
import dev.panpipe.connection.ConnectionClosedException;
import dev.panpipe.connection.FrameAssembler;
import dev.panpipe.connection.FrameDescriptor;
import dev.panpipe.connection.Message;
import dev.panpipe.connection.ProtocolException;
import dev.panpipe.internal.Closer;
import dev.panpipe.internal.Inbox;
import dev.panpipe.io.Fifo;
import dev.panpipe.io.PeerTimeoutException;
import dev.panpipe.process.ExitStatus;
import dev.panpipe.process.JavaCommand;
import dev.panpipe.process.Redirect;
import dev.panpipe.process.Subprocess;
import dev.panpipe.process.SubprocessBuilder;
import dev.panpipe.worker.InboxOverflow;
import dev.panpipe.worker.Result;
import dev.panpipe.worker.Worker;
import dev.panpipe.worker.WorkerBusyException;
import dev.panpipe.worker.WorkerDiedException;
import dev.panpipe.worker.WorkerSpec;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Optional;
import java.util.Spliterator;
import java.util.Spliterators;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;
import java.util.stream.Stream;
import java.util.stream.StreamSupport;

/**
 * {@link Worker} on Linux. The worker's stdin is a framed {@link Connection}; its results stream (a FIFO
 * or its stdout) and its pidfd are registered in the shared {@link EventLoop}, which reassembles frames
 * ({@link FrameAssembler}) into the {@link Inbox}.
 *
 * <h2>Loop-thread state</h2>
 * {@code pending}, {@code streamEnded}, {@code processExited} and the assembler are touched only on
 * the loop thread (handlers and {@link EventLoop#execute} tasks), so they need no lock.
 * A full inbox (policy BLOCK) pauses the results registration and parks the frame in {@code pending};
 * a consumer's take schedules {@link #resume()} on the loop.
 */
public final class LinuxWorker implements Worker {
    private final WorkerSpec spec;
    private final EventLoop loop;
    private final LinuxSubprocess process;
    private final Connection toWorker;
    private final Fifo fifo;                      // null when results come through stdout
    private final FdReadEnd results;
    private final FrameAssembler assembler;
    private final Inbox<Result> inbox;
    private final CountDownLatch connected = new CountDownLatch(1);
    /** A connection takes one sender at a time; a Worker is shared, so its senders take turns here. */
    private final ReentrantLock sending = new ReentrantLock();
    private EventLoop.Registration resultsRegistration;
    private EventLoop.Registration exitRegistration;

    // loop thread only
    private Result pending;
    private boolean streamEnded;
    private boolean processExited;
    private volatile boolean helloSeen;        // written on the loop thread, read by start()
    private volatile IOException failedBeforeHello;   // likewise: why the results stream failed before the hello

    private volatile boolean paused;
    private volatile long answered;
    private volatile boolean closed;

    private LinuxWorker(WorkerSpec spec, EventLoop loop, LinuxSubprocess process, Fifo fifo, FdReadEnd results) {
        this.spec = spec;
        this.loop = loop;
        this.process = process;
        this.fifo = fifo;
        this.results = results;
        this.toWorker = Connection.over(null, process.stdin(), spec.connection());
        this.assembler = new FrameAssembler(spec.connection());
        this.inbox = new Inbox<>(spec.inboxCapacity(), spec.overflow() == InboxOverflow.DROP_OLDEST);
    }

    public static LinuxWorker start(WorkerSpec spec, EventLoop loop, Path directory) throws IOException {
        Fifo fifo = null;
        FdReadEnd results = null;
        LinuxSubprocess process = null;
        try {
            boolean viaFifo = spec.resultPath() == WorkerSpec.ResultPath.FIFO;
            if (viaFifo) {
                fifo = Fifo.create(directory, spec.fifoName());
                results = (FdReadEnd) fifo.openReadEndNow();   // held open: the worker's open for writing never waits
                // As big as a child's stdin pipe: with the kernel's 64 KiB a 1080p result crossed in ~95
                // pipe-fulls, each a cross-vCPU wake-up; 1 MiB made that round trip 2.2x faster
                // (bench/results/2026-11-23-vm-2/analysis.md).
                // (Within the PipeBudget, as a child's pipes are.)
                results.handle().holdPipeBudget(PipeBudget.enlarge((int) results.nativeHandle(), SubprocessBuilder.DEFAULT_PIPE_CAPACITY));
            }
            SubprocessBuilder b = Subprocess.builder(command(spec))
                    .stdin(Redirect.pipe())
                    .stdout(viaFifo ? Redirect.inherit() : Redirect.pipe())
                    .stderr(Redirect.inherit())
                    .destroyGrace(spec.destroyGrace());
            b.environment("PANPIPE_WORKER_NAME", spec.name());
            b.environment("PANPIPE_RESULTS", viaFifo ? fifo.path().toString() : "stdout");
            b.environment("PANPIPE_MAX_MESSAGE_SIZE", Integer.toString(spec.connection().maxMessageSize()));
            spec.environment().forEach(b::environment);
            spec.passedFds().forEach((childFd, fd) -> b.passFd(childFd, Redirect.fd(fd.intValue())));
            process = (LinuxSubprocess) b.start();
            if (!viaFifo) {
                results = (FdReadEnd) process.stdout();
                results.blocking(false);
            }
            LinuxWorker worker = new LinuxWorker(spec, loop, process, fifo, results);
            worker.register();
            worker.awaitConnected();
            // Its hello came through the FIFO, so the worker holds the write end: the name has done its job.
            // Unlinked now, a JVM killed from here on leaves no FIFO behind (Workers sweeps the directory).
            if (fifo != null) fifo.close();
            return worker;
        } catch (IOException | RuntimeException e) {
            // Why the start failed is what the caller hears; a release that fails too is suppressed in it,
            // and runs no fewer of the others. destroy only shortens the grace period of close, which reaps.
            Closer closer = new Closer();
            closer.add(e);
            if (process != null) {
                LinuxSubprocess p = process;
                closer.run(() -> p.destroy(Duration.ofMillis(500)));
                closer.run(p::close);
            }
            if (results != null) closer.run(results::close);
            if (fifo != null) closer.run(fifo::close);
            throw e;
        }
    }

    /**
     * The worker's command line: the launcher prefix, then the command as given or a JVM with this one's
     * module and class path.
     */
    static List<String> command(WorkerSpec spec) {
        List<String> cmd = new ArrayList<>(spec.launcher());
        if (spec.mainClass() == null) {
            cmd.addAll(spec.command());
            return cmd;
        }
        cmd.addAll(JavaCommand.of(spec.mainClass(), spec.jvmOptions(), spec.command()));
        return cmd;
    }

    private void register() throws IOException {
        resultsRegistration = loop.register(results.handle(), EventLoop.READABLE, new EventLoop.Handler() {
            @Override
            public void ready(EventLoop.Registration r, int events) {
                pump();
            }

            @Override
            public void failed(EventLoop.Registration r, Throwable error) {
                fail(error instanceof IOException io ? io : new IOException(error));
            }
        });
        FdHandle pidfd = process.pidfd();
        if (pidfd != null) {
            exitRegistration = loop.register(pidfd, EventLoop.READABLE, EventLoop.handler((r, events) -> {
                r.cancel();
                processExited = true;
                pump();                                   // what the worker wrote before it ended is readable now
                if (!helloSeen) connected.countDown();
                maybeFinish();
            }, error -> {
                // The end is not to be left unannounced: whoever waits for the hello or a result hears of it.
                processExited = true;
                if (!helloSeen) connected.countDown();
                fail(error instanceof IOException io ? io : new IOException("worker " + spec.name() + ": watching its exit failed", error));
            }));
        }
    }

    private void awaitConnected() throws IOException {
        boolean inTime;
        try {
            inTime = connected.await(Timeouts.nanos(spec.connectTimeout()), TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while worker " + spec.name() + " was connecting");
        }
        if (helloSeen) return;
        IOException failure = failedBeforeHello;
        if (failure != null) throw failure;
        // Bounded, and not cut short by an interrupt: the caller is told how the worker ended, not that it was interrupted
        Optional<ExitStatus> status = Optional.ofNullable(process.awaitUninterruptibly(inTime ? 5_000 : 0));
        if (status.isPresent()) {
            throw new WorkerDiedException(spec.name(), status.get(), 0, 0, null);
        }
        throw new PeerTimeoutException("worker " + spec.name() + " did not connect (send its hello)", spec.connectTimeout());
    }

    // ------------------------------------------------------------------------------- loop thread

    /** Moves complete frames into the inbox and reads more, until the inbox is full or nothing is ready. */
    private void pump() {
        if (streamEnded || closed) return;
        try {
            for (;;) {
                if (pending != null) {
                    Result r = pending;
                    pending = null;
                    if (!deliver(r)) return;
                }
                for (Message m; (m = assembler.next()) != null; ) {
                    if (!helloSeen) {
                        if (m.type() != FrameDescriptor.TYPE_HELLO) {
                            throw new ProtocolException("type", m.type(), "frame " + (assembler.frames() - 1) + ": type " + m.type()
                                    + " (" + FrameDescriptor.typeName(m.type()) + ") where the hello (type "
                                    + FrameDescriptor.TYPE_HELLO + ") must come first");
                        }
                        helloSeen = true;
                        connected.countDown();
                        continue;
                    }
                    if (!deliver(new Result(m.type(), m.sequence(), m.toByteArray()))) return;
                }
                long n = assembler.readFrom(results);
                if (n == FrameAssembler.END_OF_STREAM) {
                    endOfResults();
                    return;
                }
                if (n == 0) {
                    // Nothing ready. A dead worker writes nothing more (a child of it might still hold
                    // the FIFO open, but it is not the worker): what was there has been read, and a
                    // frame it began is as cut as at the end of the stream.
                    if (processExited) endOfResults();
                    return;
                }
            }
        } catch (ProtocolException e) {
            fail(named(e));
        } catch (IOException | RuntimeException e) {
            fail(e instanceof IOException io ? io : new IOException(e));
        }
    }

    /** The worker will write no more: the results end, cut if a frame was begun and not finished. */
    private void endOfResults() {
        if (assembler.hasPartialFrame()) {
            fail(named(assembler.truncated()));
        } else {
            endStream();
        }
    }

    private ProtocolException named(ProtocolException e) {
        ProtocolException n = new ProtocolException(e.field(), e.value(), "worker " + spec.name() + ": " + e.getMessage());
        n.initCause(e);
        return n;
    }

    /**
     * Puts {@code r} in the inbox, or, when it is full, parks it and pauses the results registration.
     * After pausing, the room is checked again: a consumer that took an item just before {@code paused}
     * was set saw it false and scheduled no resume, so without this check nobody would ever resume.
     *
     * @return true if delivered (pumping may go on), false if paused
     */
    private boolean deliver(Result r) throws IOException {
        if (inbox.offer(r)) {
            answered++;
            return true;
        }
        pending = r;
        paused = true;
        resultsRegistration.interest(0);
        if (!inbox.hasRoom()) return false;
        paused = false;
        resultsRegistration.interest(EventLoop.READABLE);
        pending = null;
        return deliver(r);
    }

    private void resume() {
        if (!paused || streamEnded || closed) return;
        paused = false;
        pump();
        if (!paused && !streamEnded) {
            try {
                resultsRegistration.interest(EventLoop.READABLE);
            } catch (IOException e) {
                fail(e);
            }
        }
        maybeFinish();
    }

    private void endStream() {
        streamEnded = true;
        resultsRegistration.cancel();
        maybeFinish();
    }

    private void fail(IOException e) {
        streamEnded = true;
        resultsRegistration.cancel();
        inbox.finish(e);
        if (!helloSeen) {
            // start() waits for the hello: it is told now why none will come, not at the connect timeout
            failedBeforeHello = e;
            connected.countDown();
        }
    }

    /** Once the stream has ended and the process has exited, the inbox ends: cleanly on exit code 0 only. */
    private void maybeFinish() {
        if (!streamEnded || !(processExited || process.pidfd() == null) || pending != null) return;
        ExitStatus status;
        try {
            status = process.awaitUninterruptibly(5_000);
        } catch (IOException e) {
            inbox.finish(e);
            return;
        }
        inbox.finish(status != null && status.success() ? null : new WorkerDiedException(spec.name(), status, sent(), answered, null));
    }

    // ------------------------------------------------------------------------------- API

    @Override
    public String name() {
        return spec.name();
    }

    @Override
    public long pid() {
        return process.pid();
    }

    @Override
    public void signal(int signal) throws IOException {
        process.signal(signal);
    }

    @Override
    public <T> void send(T value, Codec<T> codec) throws IOException {
        requireOpen();
        boolean accepted = true;
        BrokenPipeException broken = null;
        sending.lock();
        try {
            if (spec.blockingWrites()) {
                toWorker.send(value, codec);
            } else {
                accepted = toWorker.trySend(value, codec);
            }
        } catch (BrokenPipeException e) {
            broken = e;
        } finally {
            sending.unlock();
        }
        if (broken != null) throw died(broken);
        if (!accepted) throw new WorkerBusyException(spec.name());
    }

    @Override
    public void send(byte[] payload) throws IOException {
        send(payload, Codecs.bytes());
    }

    @Override
    public void send(MemorySegment payload) throws IOException {
        if (!spec.blockingWrites()) {
            send(payload.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE), Codecs.bytes());
            return;
        }
        requireOpen();
        BrokenPipeException broken = null;
        sending.lock();
        try {
            toWorker.send(payload);
        } catch (BrokenPipeException e) {
            broken = e;
        } finally {
            sending.unlock();
        }
        if (broken != null) throw died(broken);
    }

    /** The worker's stdin has no reader any more: it has ended or is ending. Say how. */
    private WorkerDiedException died(BrokenPipeException cause) throws IOException {
        // Bounded (the worker is ending), and not cut short if this sender is interrupted: it is told the worker died
        ExitStatus status = process.awaitUninterruptibly(5_000);
        return new WorkerDiedException(spec.name(), status, sent(), answered, cause);
    }

    @Override
    public void endInput() {
        toWorker.close();
    }

    /** Closes stdin, swallowing nothing but the idempotent case: for Workers.close, which ends all at once. */
    public void endInputQuietly() {
        toWorker.close();
    }

    @Override
    public <T> T take(Codec<T> codec) throws IOException, InterruptedException {
        Result r = take();
        if (r == null) {
            throw new ConnectionClosedException("worker " + spec.name() + " has finished: " + process.exitStatus().map(Object::toString).orElse("exited")
                    + " after " + answered + " results");
        }
        return r.decode(codec);
    }

    @Override
    public Result take() throws IOException, InterruptedException {
        requireOpen();
        Result r = inbox.take(-1);
        afterTake();
        return r;
    }

    @Override
    public <T> Optional<T> poll(Codec<T> codec, Duration timeout) throws IOException, InterruptedException {
        long nanos = Timeouts.nanos(timeout);   // a negative timeout is refused: to the inbox it would mean no limit
        requireOpen();
        Result r = inbox.take(nanos);
        afterTake();
        if (r == null) {
            if (inbox.isDrained()) {
                throw new ConnectionClosedException("worker " + spec.name() + " has finished after " + answered + " results");
            }
            return Optional.empty();
        }
        return Optional.of(r.decode(codec));
    }

    private void afterTake() {
        if (paused) loop.execute(this::resume);
    }

    @Override
    public <T> Stream<T> stream(Codec<T> codec) {
        requireOpen();
        Spliterator<T> s = new Spliterators.AbstractSpliterator<>(Long.MAX_VALUE, Spliterator.ORDERED | Spliterator.NONNULL) {
            @Override
            public boolean tryAdvance(Consumer<? super T> action) {
                try {
                    Result r = take();
                    if (r == null) return false;
                    action.accept(r.decode(codec));
                    return true;
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new UncheckedIOException(new InterruptedIOException("interrupted while taking results of " + spec.name()));
                }
            }
        };
        return StreamSupport.stream(s, false);
    }

    @Override
    public long sent() {
        return toWorker.sent();
    }

    @Override
    public long answered() {
        return answered;
    }

    @Override
    public long dropped() {
        return inbox.dropped();
    }

    @Override
    public Optional<ExitStatus> exitStatus() throws IOException {
        return process.exitStatus();
    }

    private void requireOpen() {
        if (closed) throw new IllegalStateException("worker " + spec.name() + " is closed");
    }

    @Override
    public void close() throws IOException {
        if (closed) return;
        // Every step runs whatever the ones before it threw: a failed end of input must not leave the
        // worker running, nor a failed release its fds open. The first failure is thrown at the end.
        Closer closer = new Closer();
        closer.run(toWorker::close);              // end of input: the worker drains, answers and exits
        // Keep taking nothing: results still flow into the inbox (or pause it), so a worker that is
        // blocked writing results is ended by the grace period below rather than waited for forever.
        closer.run(process::close);               // waits the grace period, then SIGTERM, grace, SIGKILL; reaps
        closed = true;
        CountDownLatch released = new CountDownLatch(1);
        AtomicReference<Throwable> releaseFailure = new AtomicReference<>();
        Runnable release = () -> {
            try {
                resultsRegistration.cancel();
                if (exitRegistration != null) exitRegistration.cancel();
                assembler.close();
            } catch (RuntimeException | Error e) {
                releaseFailure.set(e);
            } finally {
                released.countDown();             // however it went: close must not wait for it for ever
            }
        };
        if (!loop.execute(release)) release.run();   // the loop is gone: nothing else touches these now
        // Uninterruptibly: the results end is closed below, and the loop must be done with it first (an
        // interrupted close used to go on at once, and return with the fds still held by the registrations).
        Uninterruptibly.await(released);
        if (releaseFailure.get() != null) closer.add(releaseFailure.get());
        closer.run(() -> inbox.finish(new IOException("worker " + spec.name() + " is closed")));
        closer.run(results::close);
        if (fifo != null) closer.run(fifo::close);
        closer.throwFailure();
    }

    /**
     * Closes every worker at once, each on a thread of its own, and adds their failures to {@code closer} in
     * the workers' order. One after another, each worker that ignores its end of input (and SIGTERM) held the
     * others up for its grace period, twice: N such workers made a close N times as long.
     */
    public static void closeAll(Collection<LinuxWorker> workers, Closer closer) {
        List<Thread> threads = new ArrayList<>(workers.size());
        Throwable[] failures = new Throwable[workers.size()];
        int i = 0;
        for (LinuxWorker w : workers) {
            int k = i++;
            Runnable close = () -> {
                try {
                    w.close();
                } catch (IOException | RuntimeException | Error e) {
                    failures[k] = e;
                }
            };
            try {
                threads.add(Thread.ofPlatform().name("panpipe-close-" + w.name()).start(close));
            } catch (RuntimeException | OutOfMemoryError noThread) {
                close.run();                      // no thread to spare: this one, as before
            }
        }
        for (Thread t : threads) Uninterruptibly.join(t);
        for (Throwable f : failures) if (f != null) closer.add(f);
    }

    @Override
    public String toString() {
        return "Worker[" + spec.name() + ", pid " + process.pid() + "]";
    }
}
