package dev.panpipe.bench;

import dev.panpipe.process.JavaCommand;
import dev.panpipe.process.Redirect;
import dev.panpipe.process.Subprocess;
import dev.panpipe.process.SubprocessBuilder;
import dev.panpipe.zerocopy.ring.FrameRing;
import dev.panpipe.zerocopy.ring.WaitStrategy;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;

/**
 * A {@link RingPeer} child JVM for the ring benchmarks: started with the same java, module path and native
 * access grants as this fork ({@link JavaCommand}), placed by {@link Placement} ({@code taskset} prefix),
 * given the rings as fds 3 (and 4), and waited for until it says it attached. Its stdout is a line protocol:
 * {@code ready}, then at the end {@code frames N errors E}.
 */
final class RingChild implements AutoCloseable {
    private final Subprocess process;
    private final BufferedReader out;

    private RingChild(Subprocess process) {
        this.process = process;
        this.out = new BufferedReader(new InputStreamReader(process.stdout().asInputStream(), StandardCharsets.UTF_8));
    }

    /** Starts {@code RingPeer args...} with {@code rings[i]} as fd 3 + i, and returns once it is attached and placed. */
    static RingChild start(Placement placement, List<FrameRing> rings, String... args) throws IOException {
        List<String> java = JavaCommand.of(RingPeer.class, List.of(), List.of(args));
        SubprocessBuilder builder = Subprocess.builder(placement.command(java.toArray(String[]::new)))
                .stdin(Redirect.discard())
                .stdout(Redirect.pipe())
                .stderr(Redirect.inherit())
                .destroyGrace(Duration.ofSeconds(2));
        for (int i = 0; i < rings.size(); i++) {
            builder.passFd(RingPeer.RING_FD + i, Redirect.fd((int) rings.get(i).memory().nativeHandle()));
        }
        RingChild child = new RingChild(builder.start());
        try {
            String first = child.out.readLine();
            if (!"ready".equals(first)) {
                throw new IllegalStateException("ring peer " + String.join(" ", args) + " said " + first + " instead of ready; it "
                        + child.process.waitFor(Duration.ofSeconds(5)).map(Object::toString).orElse("is still running"));
            }
            placement.requireChildPlaced(child.process.pid());
            return child;
        } catch (IOException | RuntimeException e) {
            child.close();
            throw e;
        }
    }

    /**
     * The wait strategy named {@code wait} ({@link RingPeer#strategy}), refused for a spinning end that would
     * share a cpu with its peer: it would give the cpu up only when preempted, so each hand-off would cost a
     * scheduler time slice and measure the scheduler, not the ring.
     */
    static WaitStrategy strategy(String wait, Placement placement) throws IOException {
        WaitStrategy strategy = RingPeer.strategy(wait);
        if (!strategy.sleep() && placement.childSharesCpu()) {
            throw new IllegalArgumentException("wait=" + wait + " with childCpu=" + placement.childCpu + ": the child shares this JVM's cpu, "
                    + "where spinning only measures the scheduler's time slice; run this placement with -p wait=doorbell");
        }
        return strategy;
    }

    Subprocess process() {
        return process;
    }

    /**
     * After the parent closed its producer: the child's last line ({@code frames N errors E}) is checked
     * against the frames the parent committed, and the child must exit 0.
     */
    void finish(long expectedFrames) throws IOException {
        String last = out.readLine();
        var status = process.waitFor(Duration.ofSeconds(30));
        String expected = "frames " + expectedFrames + " errors 0";
        if (!expected.equals(last)) throw new IllegalStateException("ring peer reported '" + last + "', expected '" + expected + "'");
        if (status.isEmpty() || !status.get().success()) throw new IllegalStateException("ring peer ended " + status.map(Object::toString).orElse("not at all"));
    }

    @Override
    public void close() throws IOException {
        process.close();
    }
}
