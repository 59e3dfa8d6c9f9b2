package dev.panpipe.worker;

import dev.panpipe.connection.Codec;
import dev.panpipe.connection.Connection;
import dev.panpipe.connection.ConnectionClosedException;
import dev.panpipe.connection.ConnectionOptions;
import dev.panpipe.connection.FrameDescriptor;
import dev.panpipe.connection.Message;
import dev.panpipe.internal.Closer;
import dev.panpipe.internal.linux.FdHandle;
import dev.panpipe.internal.linux.FdReadEnd;
import dev.panpipe.internal.linux.FdWriteEnd;
import dev.panpipe.io.Fifo;
import dev.panpipe.io.WriteEnd;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Spliterator;
import java.util.Spliterators;
import java.util.function.Consumer;
import java.util.stream.Stream;
import java.util.stream.StreamSupport;

/**
 * The worker's side: what Python's subprocess-multipipe gives a child with {@code stdincollection} and
 * {@code write2pipe}.
 *
 * {@snippet :
 * public static void main(String[] args) throws IOException {
 *     try (WorkerContext ctx = WorkerContext.connect()) {
 *         ctx.messages(Codecs.text()).forEach(s -> ctx.replyUnchecked(s.toUpperCase(), Codecs.text()));
 *     }   // end of input: results closed, the process exits 0
 * }
 * }
 *
 * <p>Messages come from stdin; results go to the FIFO named in {@code PANPIPE_RESULTS} (or stdout, in which
 * case {@code System.out} is pointed at stderr so a stray print cannot corrupt the frames). The first
 * result frame is the hello the parent waits for.
 */
public final class WorkerContext implements AutoCloseable {
    private final String name;
    private final Connection input;
    private final Connection output;
    private final WriteEnd resultsEnd;

    private WorkerContext(String name, Connection input, Connection output, WriteEnd resultsEnd) {
        this.name = name;
        this.input = input;
        this.output = output;
        this.resultsEnd = resultsEnd;
    }

    /**
     * Connects to the parent that started this process: opens the results stream and says hello.
     *
     * @throws IllegalStateException if this process was not started as a panpipe worker
     */
    public static WorkerContext connect() throws IOException {
        String results = System.getenv("PANPIPE_RESULTS");
        if (results == null) throw new IllegalStateException("not started as a panpipe worker: PANPIPE_RESULTS is not set");
        String name = System.getenv().getOrDefault("PANPIPE_WORKER_NAME", "worker");
        String max = System.getenv("PANPIPE_MAX_MESSAGE_SIZE");
        ConnectionOptions options = max == null ? ConnectionOptions.defaults() : new ConnectionOptions(Integer.parseInt(max));
        // stdin and stdout are shared with nobody else here, but they came from the parent: leave their mode alone.
        Connection input = Connection.over(new FdReadEnd(FdHandle.ownShared(0, "stdin")), null, options);
        WriteEnd out;
        if (results.equals("stdout")) {
            System.setOut(System.err);
            out = new FdWriteEnd(FdHandle.ownShared(1, "stdout"));
        } else {
            try (Fifo fifo = Fifo.create(Path.of(results))) {      // the parent's FIFO: reused, never removed here
                out = fifo.openWriteEnd(Duration.ofSeconds(30));
            }
        }
        Connection output = Connection.over(null, out, options);
        byte[] utf8 = name.getBytes(StandardCharsets.UTF_8);
        MemorySegment hello = MemorySegment.ofArray(new byte[4 + utf8.length]);
        hello.set(FrameDescriptor.U32, 0, (int) ProcessHandle.current().pid());
        MemorySegment.copy(utf8, 0, hello, ValueLayout.JAVA_BYTE, 4, utf8.length);
        output.send(FrameDescriptor.TYPE_HELLO, hello);
        return new WorkerContext(name, input, output, out);
    }

    public String name() {
        return name;
    }

    /**
     * The next message from the parent, valid until the next receive.
     *
     * @throws ConnectionClosedException at end of input: the parent has sent everything
     */
    public Message receive() throws IOException {
        return input.receive();
    }

    /** The next message, decoded. @throws ConnectionClosedException at end of input */
    public <T> T receive(Codec<T> codec) throws IOException {
        return input.receive(codec);
    }

    /** The messages as a stream that ends at end of input (Python's {@code stdin_deque}, consumed in order). */
    public <T> Stream<T> messages(Codec<T> codec) {
        Spliterator<T> s = new Spliterators.AbstractSpliterator<>(Long.MAX_VALUE, Spliterator.ORDERED | Spliterator.NONNULL) {
            @Override
            public boolean tryAdvance(Consumer<? super T> action) {
                try {
                    action.accept(input.receive(codec));
                    return true;
                } catch (ConnectionClosedException endOfInput) {
                    return false;
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }
        };
        return StreamSupport.stream(s, false);
    }

    /** Sends a result to the parent ({@code write2pipe}). */
    public <T> void reply(T value, Codec<T> codec) throws IOException {
        output.send(value, codec);
    }

    /** As {@link #reply}, for lambdas: an I/O failure becomes an {@link UncheckedIOException}. */
    public <T> void replyUnchecked(T value, Codec<T> codec) {
        try {
            output.send(value, codec);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Sends a result frame of {@code type} as it is (to echo or forward a message). */
    public void reply(int type, MemorySegment payload) throws IOException {
        output.send(type, payload);
    }

    /** The raw results stream, for diagnostics that must write what no codec would (see {@link EchoWorker}). */
    WriteEnd rawResults() {
        return resultsEnd;
    }

    /** Closes the results stream (the parent sees its end) and stdin. */
    @Override
    public void close() {
        // Input is closed even if closing the results failed: the first failure is thrown after.
        Closer closer = new Closer();
        closer.run(output::close);
        closer.run(input::close);
        closer.throwUncheckedFailure();
    }
}
