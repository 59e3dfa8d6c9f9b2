package dev.panpipe.bench;

import dev.panpipe.zerocopy.ring.FrameConsumer;
import dev.panpipe.zerocopy.ring.FrameProducer;
import dev.panpipe.zerocopy.ring.FrameRing;
import dev.panpipe.zerocopy.ring.WaitStrategy;

import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Cross-core comparisons measured interleaved in time, in short slices, A then B then B then A and so on,
 * because on this kind of VM a ratio of two figures measured minutes apart says more about the host than
 * about the code.
 *
 * <p>Why: the two vCPUs are placed by the host's scheduler, and that placement changes every few seconds.
 * The C spin ping-pong, pinned to cpus 0 and 1, runs at a p50 of 100-150 ns for a few seconds, then
 * 560-640 ns for a few seconds, and back (measured back to back in 0.2 s runs); within one 2 s run its p50
 * and p90 can fall on the two sides. panpipe's ring round trip moves between about 0.2-0.3 us and
 * 0.65-0.8 us the same way, and the frame hand-off between about 4-6 and 14-16 M frames/s. Separate JMH
 * runs of a few seconds each land in either mode: the published 4K-vs-1080p hand-off came out as 2.56x for
 * one wait strategy and 0.23x for the other, and the ring's 0.25 us against C's 0.64 us was a fast mode
 * against a slow one. Paired slices a few hundred milliseconds apart mostly share one mode; each side's
 * figure is the median over its slices, and each pair's ratio is kept too.
 *
 * <p>Comparisons (JSON lines on stdout, one per side, read by the report as source {@code paired}):
 * <ul>
 *   <li>{@code paired_ring_spin_rt}: a 64-byte round trip through two rings of {@link #ROUND_TRIP_SLOTS} slots,
 *       both ends spinning, to a {@link RingPeer} {@code echo} child (RingRoundTripBenchmark.roundTrip, the
 *       message stamped with the clock reading that starts the round trip, which the loop takes anyway),
 *       against the C spin ping-pong ({@code bench/target/c/pingpong --transport spin}) run for the same
 *       slice. Figure: the slice's p50 (and mean, p90, p99) of single round trips timed with
 *       {@link System#nanoTime}. Read in each host placement apart ({@link #hostPlacement}; more pairs are
 *       run, up to three times as many, until each placement has a quarter of them), and over all pairs.
 *       Run again with rings of 8 slots ({@code "slots":8}).</li>
 *   <li>{@code paired_ring_spin_rt_vs_c_ring}: the same Java round trip against the same ring protocol in C
 *       ({@code bench/target/c/ring_pingpong}, samples/c/panpipe_ring.h): what Java adds.</li>
 *   <li>{@code paired_c_ring_spin_rt}: that C ring round trip against the C spin ping-pong: what the ring
 *       protocol (descriptors, positions, fences, slots in turn) costs before any Java.</li>
 *   <li>{@code paired_ring_handoff}: 3840x2160 against 1920x1080 RGB frames through a ring to a
 *       {@link RingPeer} {@code handoff} child each (exactly RingBenchmark.handoff), for {@code spinning}
 *       with 16 slots and {@code doorbell} with 64. Figure: frames per second over the slice.</li>
 * </ul>
 * While one side runs, the other's child is stopped (SIGSTOP, SIGCONT before its next slice), so a
 * spinning peer never takes the cpu from the side being measured; each slice starts with 20 ms unmeasured.
 *
 * <p>Usage (scripts/bench runs it in the cross-core placement, this JVM pinned to cpu 0):
 * {@code PairedRun --child-cpu 1 --c-bin bench/target/c [--pairs 20] [--slice-ms 300] [--warmup-ms 2000]
 * [--only paired_ring_spin_rt|paired_ring_handoff]}
 */
public final class PairedRun {
    private static final long SETTLE_NANOS = TimeUnit.MILLISECONDS.toNanos(20);
    private static final int MESSAGE_BYTES = 64;
    /**
     * Slots per ring of the round trip: one message is in flight each way, and a ring of 2 slots reuses a slot's
     * cache lines every other message; with 8, a 64 B round trip took 1.2-1.25x as long, in Java and in C alike.
     */
    static final int ROUND_TRIP_SLOTS = 2;

    private PairedRun() {
    }

    /** One side of a comparison: measures one slice, returning the slice's figures. */
    private interface Side extends AutoCloseable {
        void resume() throws IOException;

        double[] slice(long nanos) throws Exception;

        void pause() throws IOException;

        @Override
        void close() throws Exception;
    }

    public static void main(String[] args) throws Exception {
        String childCpu = "1";
        Path cBin = Path.of("bench/target/c");
        int pairs = 20;
        long sliceMs = 300, warmupMs = 2000;
        String only = "";
        for (int i = 0; i < args.length; i++) {
            String value = i + 1 < args.length ? args[i + 1] : null;
            switch (args[i]) {
                case "--child-cpu" -> childCpu = value;
                case "--c-bin" -> cBin = Path.of(value);
                case "--pairs" -> pairs = Integer.parseInt(value);
                case "--slice-ms" -> sliceMs = Long.parseLong(value);
                case "--warmup-ms" -> warmupMs = Long.parseLong(value);
                case "--only" -> only = value;
                default -> throw new IllegalArgumentException("PairedRun: unknown argument " + args[i]
                        + " (--child-cpu N --c-bin DIR --pairs N --slice-ms N --warmup-ms N --only NAME)");
            }
            i++;
        }
        if (childCpu == null || pairs < 1 || sliceMs < 10) throw new IllegalArgumentException("PairedRun: --child-cpu N, --pairs >= 1, --slice-ms >= 10");
        Placement placement = new Placement();
        placement.childCpu = childCpu;
        placement.setUp();
        if (placement.childSharesCpu()) {
            throw new IllegalArgumentException("PairedRun compares cross-core figures: start it pinned (taskset -c 0) with --child-cpu on another cpu");
        }
        long slice = TimeUnit.MILLISECONDS.toNanos(sliceMs), warmup = TimeUnit.MILLISECONDS.toNanos(warmupMs);
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        String common = String.format(Locale.ROOT, "\"pairs\":%d,\"slice_ms\":%d,\"child_cpu\":\"%s\"", pairs, sliceMs, childCpu);

        if (only.isEmpty() || only.equals("paired_ring_spin_rt")) {
            Regimes placements = new Regimes(List.of("fast", "slow"), PairedRun::hostPlacement);
            Side c = new CRoundTrip(cBin.resolve("pingpong"), childCpu, "--transport", "spin");
            Side cRing = new CRoundTrip(cBin.resolve("ring_pingpong"), childCpu, "--slots", Integer.toString(ROUND_TRIP_SLOTS));
            String size = ",\"size\":" + MESSAGE_BYTES;
            try (Side ring = new RingRoundTrip(placement, ROUND_TRIP_SLOTS)) {
                warm(ring, warmup);
                String slots = size + ",\"slots\":" + ROUND_TRIP_SLOTS;
                // The floor: against the bare C ping-pong. Then against the same ring protocol in C (what Java
                // costs), and that C ring against the bare ping-pong (what the protocol costs).
                compare("paired_ring_spin_rt", ring, c, pairs, slice, false, common + slots, "panpipe", "c", placements, out);
                compare("paired_ring_spin_rt_vs_c_ring", ring, cRing, pairs, slice, false, common + slots, "panpipe", "c_ring", placements, out);
                compare("paired_c_ring_spin_rt", cRing, c, pairs, slice, false, common + slots, "c_ring", "c", placements, out);
            }
            // The same round trip through rings of 8 slots: a slot's lines come round every 8 messages rather than
            // every 2, and cost more on the way (measured in C too: ring_pingpong --slots 8).
            try (Side ring8 = new RingRoundTrip(placement, 8)) {
                warm(ring8, warmup);
                compare("paired_ring_spin_rt", ring8, c, pairs, slice, false, common + size + ",\"slots\":8", "panpipe", "c", placements, out);
            }
        }
        if (only.isEmpty() || only.equals("paired_ring_handoff")) {
            for (String[] setUp : new String[][] {{"spinning", "16"}, {"doorbell", "64"}}) {
                String wait = setUp[0];
                int slots = Integer.parseInt(setUp[1]);
                try (Side uhd = new Handoff(placement, wait, slots, 3840, 2160); Side hd = new Handoff(placement, wait, slots, 1920, 1080)) {
                    warm(uhd, warmup);
                    warm(hd, warmup);
                    compare("paired_ring_handoff", uhd, hd, pairs, slice, true,
                            common + ",\"wait\":\"" + wait + "\",\"slots\":" + slots, "3840x2160", "1920x1080", null, out);
                }
            }
        }
    }

    private static void warm(Side side, long nanos) throws Exception {
        side.resume();
        side.slice(nanos);
        side.pause();
    }

    /**
     * The host placement a pair of spinning round-trip slices ran in, told by both sides' p50: {@code fast} (the
     * C ping-pong under 300 ns, the ring under 450 ns; measured modes 100-150 and 180-300 ns), {@code slow} (both
     * at 400 ns or more; measured 560-640 and 580-760 ns), or null when the placement changed between the two
     * slices of the pair (one side fast, the other slow), which belongs to neither.
     */
    static String hostPlacement(double[] ring, double[] c) {
        if (c[0] < 300 && ring[0] < 450) return "fast";
        if (c[0] >= 400 && ring[0] >= 400) return "slow";
        return null;
    }

    /**
     * Runs {@code pairs} pairs of slices, alternating which side goes first, and prints one line per side: the
     * median over its slices of each figure (a rate: frames/s; else p50, mean, p90, p99 in ns) and the pair
     * ratios (this side over the other) median, lowest and highest, with {@code "regime":"all"}. With
     * {@code regimes} it also prints those lines over each regime's pairs alone, {@code "regime":"<name>"} and
     * the count as {@code regime_pairs}: a floor read on all pairs would depend on how the run's pairs happened
     * to fall between the host's placements.
     */
    private static void compare(String name, Side a, Side b, int pairs, long slice, boolean rate, String common,
                                String aLabel, String bLabel, Regimes regimes, PrintStream out) throws Exception {
        List<double[]> as = new ArrayList<>(), bs = new ArrayList<>();
        // Up to three times the pairs while a regime has fewer than a quarter of them (the host may sit in one
        // placement for a minute): a floor read in each placement needs pairs from each.
        int least = Math.max(3, pairs / 4);
        for (int i = 0; i < pairs || (regimes != null && i < 3 * pairs && regimes.wanting(as, bs, least)); i++) {
            Side first = i % 2 == 0 ? a : b;
            Side second = i % 2 == 0 ? b : a;
            double[] f = run(first, slice);
            double[] s = run(second, slice);
            as.add(i % 2 == 0 ? f : s);
            bs.add(i % 2 == 0 ? s : f);
            System.err.printf(Locale.ROOT, "PairedRun: %s pair %d: %s %s, %s %s%n", name, i + 1,
                    aLabel, describe(as.getLast(), rate), bLabel, describe(bs.getLast(), rate));
        }
        String all = common + ",\"pairs_run\":" + as.size() + ",\"regime\":\"all\"";
        out.println(line(name, aLabel, as, rate, all, pairRatios(as, bs)));
        out.println(line(name, bLabel, bs, rate, all, pairRatios(bs, as)));
        if (regimes == null) return;
        java.util.Map<String, List<Integer>> byRegime = new java.util.TreeMap<>();
        for (int i = 0; i < as.size(); i++) {
            String r = regimes.of().apply(as.get(i), bs.get(i));
            if (r != null) byRegime.computeIfAbsent(r, k -> new ArrayList<>()).add(i);
        }
        for (var e : byRegime.entrySet()) {
            List<double[]> ra = e.getValue().stream().map(as::get).toList(), rb = e.getValue().stream().map(bs::get).toList();
            String tag = common + ",\"regime\":\"" + e.getKey() + "\",\"regime_pairs\":" + ra.size();
            out.println(line(name, aLabel, ra, rate, tag, pairRatios(ra, rb)));
            out.println(line(name, bLabel, rb, rate, tag, pairRatios(rb, ra)));
        }
    }

    /**
     * The regimes (host placements) a comparison is read in, {@code names}, and which one a pair of slices ran in,
     * from its two sides' figures ({@code of}; null for none).
     */
    record Regimes(List<String> names, java.util.function.BiFunction<double[], double[], String> of) {
        /** True while some regime has fewer than {@code least} of the pairs so far. */
        boolean wanting(List<double[]> as, List<double[]> bs, int least) {
            for (String n : names) {
                int k = 0;
                for (int i = 0; i < as.size(); i++) if (n.equals(of.apply(as.get(i), bs.get(i)))) k++;
                if (k < least) return true;
            }
            return false;
        }
    }

    /** This side's figure over the other's in each pair: the median, lowest and highest, as JSON fields. */
    private static String pairRatios(List<double[]> own, List<double[]> other) {
        double[] ratios = new double[own.size()];
        for (int i = 0; i < ratios.length; i++) ratios[i] = own.get(i)[0] / other.get(i)[0];
        Arrays.sort(ratios);
        return String.format(Locale.ROOT, "\"pair_ratio_median\":%.4f,\"pair_ratio_min\":%.4f,\"pair_ratio_max\":%.4f",
                median(ratios), ratios[0], ratios[ratios.length - 1]);
    }

    private static double[] run(Side side, long slice) throws Exception {
        side.resume();
        try {
            return side.slice(slice);
        } finally {
            side.pause();
        }
    }

    private static String describe(double[] f, boolean rate) {
        return rate ? String.format(Locale.ROOT, "%.2f M/s", f[0] / 1e6) : String.format(Locale.ROOT, "p50 %.0f ns", f[0]);
    }

    private static String line(String name, String side, List<double[]> slices, boolean rate, String common, String ratioFields) {
        int n = slices.getFirst().length;
        double[] medians = new double[n];
        double[] lowest = new double[n];
        double[] highest = new double[n];
        for (int k = 0; k < n; k++) {
            double[] column = new double[slices.size()];
            for (int i = 0; i < column.length; i++) column[i] = slices.get(i)[k];
            Arrays.sort(column);
            medians[k] = median(column);
            lowest[k] = column[0];
            highest[k] = column[column.length - 1];
        }
        String figures = rate
                ? String.format(Locale.ROOT, "\"ops_per_s\":%.1f,\"ops_per_s_min\":%.1f,\"ops_per_s_max\":%.1f,\"reps\":%d",
                        medians[0], lowest[0], highest[0], slices.size())
                : String.format(Locale.ROOT, "\"p50_ns\":%.1f,\"mean_ns\":%.1f,\"p90_ns\":%.1f,\"p99_ns\":%.1f,\"p50_ns_min\":%.1f,\"p50_ns_max\":%.1f,\"iterations\":%d",
                        medians[0], medians[1], medians[2], medians[3], lowest[0], highest[0], (long) sum(slices, 4));
        return "{\"name\":\"" + name + "\",\"side\":\"" + side + "\"," + common + "," + figures + "," + ratioFields + "}";
    }

    private static double sum(List<double[]> slices, int k) {
        double s = 0;
        for (double[] f : slices) s += f[k];
        return s;
    }

    private static double median(double[] sorted) {
        int n = sorted.length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }

    /** {p50, mean, p90, p99, count} of {@code n} round trip times (sorted in place). */
    private static double[] latencies(long[] samples, int n) {
        if (n == 0) throw new IllegalStateException("no round trip completed in a slice");
        Arrays.sort(samples, 0, n);
        double total = 0;
        for (int i = 0; i < n; i++) total += samples[i];
        return new double[] {samples[n / 2], total / n, samples[(int) (n * 0.9)], samples[(int) (n * 0.99)], n};
    }

    /** Stops or continues a child process (SIGSTOP, SIGCONT) through kill(1), outside the measured slices. */
    private static void signal(long pid, String signal) throws IOException {
        try {
            Process kill = new ProcessBuilder("kill", "-" + signal, Long.toString(pid)).inheritIO().start();
            if (kill.waitFor() != 0) throw new IOException("kill -" + signal + " " + pid + " exited " + kill.exitValue());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while signalling " + pid, e);
        }
    }

    /** RingRoundTripBenchmark.roundTrip64 with both ends spinning, one slice at a time. */
    private static final class RingRoundTrip implements Side {
        private final FrameRing ping;
        private final FrameRing pong;
        private final FrameProducer out;
        private final FrameConsumer in;
        private final RingChild child;
        private final long[] samples = new long[1 << 23];
        private final MemorySegment message = MemorySegment.ofArray(new long[MESSAGE_BYTES / 8]);

        RingRoundTrip(Placement placement, int slots) throws IOException {
            for (int i = 0; i < MESSAGE_BYTES; i++) message.set(ValueLayout.JAVA_BYTE, i, (byte) (i * 7));
            WaitStrategy spinning = WaitStrategy.spinning();
            ping = FrameRing.create(slots, MESSAGE_BYTES);
            try {
                pong = FrameRing.create(slots, MESSAGE_BYTES);
            } catch (IOException | RuntimeException e) {
                ping.close();
                throw e;
            }
            try {
                out = ping.producer(spinning);
                in = pong.consumer(spinning);
                child = RingChild.start(placement, List.of(ping, pong), "echo", "spinning");
                signal(child.process().pid(), "STOP");
            } catch (IOException | RuntimeException e) {
                ping.close();
                pong.close();
                throw e;
            }
        }

        @Override
        public void resume() throws IOException {
            signal(child.process().pid(), "CONT");
            long settle = System.nanoTime() + SETTLE_NANOS;
            for (long t = System.nanoTime(); t - settle < 0; t = System.nanoTime()) roundTrip(t);
        }

        /**
         * Each message is stamped with the clock reading that starts its round trip, which the loop takes anyway
         * (commit(timestamp)); the C ping-pong reads the clock once per round trip too, and stamps nothing.
         */
        @Override
        public double[] slice(long nanos) throws IOException {
            int n = 0;
            long start = System.nanoTime(), end = start + nanos, t = start;
            while (t - end < 0 && n < samples.length) {
                roundTrip(t);
                long now = System.nanoTime();
                samples[n++] = now - t;
                t = now;
            }
            return latencies(samples, n);
        }

        private void roundTrip(long sentNanos) throws IOException {
            RingRoundTripBenchmark.roundTrip(out, in, message, sentNanos);
        }

        @Override
        public void pause() throws IOException {
            signal(child.process().pid(), "STOP");
        }

        @Override
        public void close() throws IOException {
            try (FrameRing p = ping; FrameRing q = pong; RingChild c = child) {
                signal(c.process().pid(), "CONT");
                out.close();
                c.finish(out.position());
                in.close();
            }
        }
    }

    /**
     * A C round-trip program for one slice ({@code pingpong --transport spin}, or {@code ring_pingpong}): a fresh
     * pair of processes, parent on cpu 0, child on the child cpu.
     */
    private static final class CRoundTrip implements Side {
        private static final Pattern FIGURE = Pattern.compile("\"(p50_ns|mean_ns|p90_ns|p99_ns|iterations)\":([0-9.]+)");
        private final Path program;
        private final String childCpu;
        private final List<String> options;

        CRoundTrip(Path program, String childCpu, String... options) {
            if (!program.toFile().canExecute()) throw new IllegalArgumentException("no C program at " + program + " (scripts/bench builds it)");
            this.program = program;
            this.childCpu = childCpu;
            this.options = List.of(options);
        }

        @Override
        public void resume() {
        }

        @Override
        public double[] slice(long nanos) throws Exception {
            List<String> command = new ArrayList<>(List.of(program.toString()));
            command.addAll(options);
            command.addAll(List.of("--size", Integer.toString(MESSAGE_BYTES), "--parent-cpu", "0", "--child-cpu", childCpu,
                    "--warmup", String.format(Locale.ROOT, "%.3f", SETTLE_NANOS / 1e9), "--time", String.format(Locale.ROOT, "%.3f", nanos / 1e9)));
            Process p = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
            String json = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (p.waitFor() != 0) throw new IOException(program + " exited " + p.exitValue());
            double[] f = new double[5];
            Matcher m = FIGURE.matcher(json);
            int found = 0;
            while (m.find()) {
                int k = switch (m.group(1)) {
                    case "p50_ns" -> 0;
                    case "mean_ns" -> 1;
                    case "p90_ns" -> 2;
                    case "p99_ns" -> 3;
                    default -> 4;
                };
                f[k] = Double.parseDouble(m.group(2));
                found |= 1 << k;
            }
            if (found != 0b11111) throw new IOException(program + " printed no p50/mean/p90/p99/iterations: " + json);
            return f;
        }

        @Override
        public void pause() {
        }

        @Override
        public void close() {
        }
    }

    /** RingBenchmark.handoff for one frame size, one slice at a time. */
    private static final class Handoff implements Side {
        private final FrameRing ring;
        private final FrameProducer producer;
        private final RingChild child;
        private final int width;
        private final int height;

        Handoff(Placement placement, String wait, int slots, int width, int height) throws IOException {
            this.width = width;
            this.height = height;
            ring = FrameRing.create(slots, (long) width * height * 3);
            try {
                producer = ring.producer(RingPeer.strategy(wait));
                child = RingChild.start(placement, List.of(ring), "handoff", wait, Integer.toString(width), Integer.toString(height));
                signal(child.process().pid(), "STOP");
            } catch (IOException | RuntimeException e) {
                ring.close();
                throw e;
            }
        }

        @Override
        public void resume() throws IOException {
            signal(child.process().pid(), "CONT");
            long settle = System.nanoTime() + SETTLE_NANOS;
            while (System.nanoTime() - settle < 0) handOff();
        }

        @Override
        public double[] slice(long nanos) throws IOException {
            long frames = 0;
            long start = System.nanoTime(), end = start + nanos, now;
            do {
                for (int i = 0; i < 16; i++) handOff();
                frames += 16;
                now = System.nanoTime();
            } while (now - end < 0);
            return new double[] {frames * 1e9 / (now - start)};
        }

        private void handOff() throws IOException {
            RingBenchmark.handOff(producer, width, height);
        }

        @Override
        public void pause() throws IOException {
            signal(child.process().pid(), "STOP");
        }

        @Override
        public void close() throws IOException {
            try (FrameRing r = ring; RingChild c = child) {
                signal(c.process().pid(), "CONT");
                producer.close();
                c.finish(producer.position());
            }
        }
    }
}
