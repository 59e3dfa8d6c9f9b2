package dev.panpipe.bench;

import dev.panpipe.connection.Codec;
import dev.panpipe.connection.Codecs;
import dev.panpipe.connection.PayloadWriter;
import dev.panpipe.connection.ProtocolException;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.io.IOException;
import java.io.Serializable;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.concurrent.TimeUnit;

/**
 * One operation = encode a value into a reused native buffer (as a connection's send buffer) and decode
 * it back from there (as from the receive buffer): the codecs alone, no syscall. Apache Fory
 * ({@link Codecs#fory}, classes registered by name) against the allowlisted Java serialization
 * ({@link Codecs#javaSerialization}), for a small record and for a record holding 100 of them.
 *
 * <p>Fory needs its module resolved and, on JDK 25+, {@code java.lang.invoke} opened to it: scripts/bench
 * passes {@code --add-modules org.apache.fory.core --add-opens java.base/java.lang.invoke=org.apache.fory.core}.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
@State(Scope.Thread)
public class CodecBenchmark {
    /** Public: Fory's generated serializers are in another module and must see the class. */
    public record Small(int id, long timestamp, String name) implements Serializable {
    }

    public record Batch(ArrayList<Small> items) implements Serializable {
    }

    private final Codec<Small> forySmall = Codecs.fory(Small.class);
    private final Codec<Batch> foryBatch = Codecs.fory(Batch.class, Small.class);
    private final Codec<Small> javaSmall = Codecs.javaSerialization(Small.class);
    private final Codec<Batch> javaBatch = Codecs.javaSerialization(Batch.class, Small.class, ArrayList.class);

    private final Small small = new Small(42, 1_700_000_000_000L, "sensor-7");
    private Batch batch;
    private Arena arena;
    private Buffer buffer;

    @Setup(Level.Trial)
    public void setUp() {
        ArrayList<Small> items = new ArrayList<>();
        for (int i = 0; i < 100; i++) items.add(new Small(i, 1_700_000_000_000L + i, "sensor-" + i));
        batch = new Batch(items);
        arena = Arena.ofShared();
        buffer = new Buffer(arena.allocate(1 << 20, 64));
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        arena.close();
    }

    @Benchmark
    public Small forySmall() throws IOException {
        return roundTrip(small, forySmall);
    }

    @Benchmark
    public Small javaSerialSmall() throws IOException {
        return roundTrip(small, javaSmall);
    }

    @Benchmark
    public Batch foryList100() throws IOException {
        return roundTrip(batch, foryBatch);
    }

    @Benchmark
    public Batch javaSerialList100() throws IOException {
        return roundTrip(batch, javaBatch);
    }

    private <T> T roundTrip(T value, Codec<T> codec) throws IOException {
        buffer.position = 0;
        codec.encode(value, buffer);
        return codec.decode(buffer.segment.asSlice(0, buffer.position));
    }

    /** An in-memory {@link PayloadWriter} over one native segment, reused for every operation. */
    private static final class Buffer implements PayloadWriter {
        final MemorySegment segment;
        long position;

        Buffer(MemorySegment segment) {
            this.segment = segment;
        }

        @Override
        public MemorySegment claim(long length) throws ProtocolException {
            if (position + length > segment.byteSize()) throw new ProtocolException("length", position + length, "benchmark buffer too small");
            MemorySegment slice = segment.asSlice(position, length);
            position += length;
            return slice;
        }

        @Override
        public long written() {
            return position;
        }
    }
}
