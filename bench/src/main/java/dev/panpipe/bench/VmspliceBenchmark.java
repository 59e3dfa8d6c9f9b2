package dev.panpipe.bench;

import dev.panpipe.io.VmspliceRing;
import dev.panpipe.io.VmspliceWriter;
import dev.panpipe.io.WriteEnd;
import dev.panpipe.process.Redirect;
import dev.panpipe.process.Subprocess;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.TimeUnit;

/**
 * Parent → child bulk transfer through the child's stdin: {@code vmsplice} (the pipe refers to the parent's
 * pages; the child's read is the only copy) beside panpipe's plain pipe write (copied into the pipe, then out).
 *
 * <p>Shape: throughput of chunks. One operation moves one chunk of {@code chunkBytes} (65536 or 1048576);
 * bytes/s is the score times {@code chunkBytes}. The child, started in the trial's setup and reading across
 * every iteration, is {@link PipeThroughputBenchmark}'s sink ({@code dd of=/dev/null bs=1M status=none}),
 * placed by {@link Placement}; its stdin pipe has panpipe's default 1 MiB. No variant times filling its
 * memory: the plain chunk is filled once in setup, the ring's buffers keep the zeros they were mapped with.
 *
 * <ul>
 *   <li>{@code plainWrite}: {@link WriteEnd#write(MemorySegment)} of an off-heap, page-aligned chunk: two
 *       copies, into the pipe and out of it.</li>
 *   <li>{@code vmspliceRing}: {@link VmspliceRing#claim()} + {@link VmspliceRing#commit(long)} of a whole
 *       buffer, the ring's buffers being {@code chunkBytes} each and adding up to twice the pipe's capacity:
 *       the safe pattern, one {@code FIONREAD} per claim included. The child's one copy reads from buffers
 *       that rotate through 2 MiB, where {@code plainWrite}'s source stays in cache: that is part of what
 *       zero copy costs here.</li>
 *   <li>{@code experimentVmspliceOneBuffer}: not a safe pattern, an experiment to price the ring's
 *       bookkeeping: {@link VmspliceWriter#write(MemorySegment)} of the same chunk again and again, fine here
 *       only because its bytes never change.</li>
 * </ul>
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class VmspliceBenchmark {

    /** The sink child, a chunk to write and a ring of chunk-sized buffers over its stdin. */
    @State(Scope.Thread)
    public static class Sink {
        @Param({"65536", "1048576"})
        public int chunkBytes;

        Arena arena;
        MemorySegment chunk;
        Subprocess child;
        WriteEnd stdin;
        VmspliceWriter writer;
        VmspliceRing ring;

        @Setup(Level.Trial)
        public void setUp(Placement placement) throws IOException {
            arena = Arena.ofShared();
            chunk = arena.allocate(chunkBytes, VmspliceWriter.pageSize());
            for (int i = 0; i < chunkBytes; i++) chunk.set(ValueLayout.JAVA_BYTE, i, (byte) i);
            child = Subprocess.builder(placement.command(PipeThroughputBenchmark.SINK))
                    .stdout(Redirect.discard())
                    .stderr(Redirect.discard())
                    .start();
            stdin = child.stdin();
            writer = VmspliceWriter.over(stdin);
            ring = VmspliceRing.over(stdin, chunkBytes);
        }

        @TearDown(Level.Trial)
        public void tearDown() throws IOException {
            stdin.close();                      // end of input: the reader exits
            var status = child.waitFor();
            child.close();
            ring.close();
            arena.close();                      // only now: the pipe may refer to the chunk until the child has read it
            if (!status.success()) throw new IllegalStateException("sink " + status);
        }
    }

    @Benchmark
    public long plainWrite(Sink s) throws IOException {
        return s.stdin.write(s.chunk);
    }

    @Benchmark
    public boolean vmspliceRing(Sink s) throws IOException {
        s.ring.claim();
        return s.ring.commit(s.chunkBytes);
    }

    @Benchmark
    public long experimentVmspliceOneBuffer(Sink s) throws IOException {
        return s.writer.write(s.chunk);
    }
}
