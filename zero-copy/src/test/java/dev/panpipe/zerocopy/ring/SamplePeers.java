package dev.panpipe.zerocopy.ring;

import dev.panpipe.io.ReadEnd;
import dev.panpipe.process.Redirect;
import dev.panpipe.process.Subprocess;
import org.junit.jupiter.api.Assumptions;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The ring peers in {@code samples/} as the tests run them: the C producer and consumer built with gcc into
 * {@code target/samples/}, the Python consumer run by Debian's {@code /usr/bin/python3}; each gets the ring
 * as fd 3 (or a name) and prints {@code key value} pairs that {@link Output} reads. Also the test pattern
 * every peer writes: byte i of frame s is {@code (s * 31 + i) & 0xff}.
 */
final class SamplePeers {
    static final Path BASEDIR = Path.of(System.getProperty("basedir", ".")).toAbsolutePath();
    static final Path SAMPLES = BASEDIR.resolveSibling("samples");
    static final Path BUILD = BASEDIR.resolve("target").resolve("samples");
    /** Debian's Python, with python3-numpy; the first python3 on PATH may be another one without it. */
    static final String PYTHON = "/usr/bin/python3";

    private static final Map<String, Path> BUILT = new HashMap<>();
    private static String gccMissing;
    private static Boolean pythonReady;

    private SamplePeers() {
    }

    /** samples/c/NAME.c built with {@code gcc -O2 -Wall -Werror} (once per test run); skips the test without gcc. */
    static Path c(String name) throws IOException, InterruptedException {
        return build(name, name, "-O2");
    }

    /**
     * samples/c/NAME.c built with AddressSanitizer and UndefinedBehaviorSanitizer, every finding fatal (exit 1
     * with a report naming it): for tests that feed the C code corrupt rings.
     */
    static Path cSanitized(String name) throws IOException, InterruptedException {
        return build(name, name + "-sanitized", "-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined",
                "-fno-sanitize-recover=all");
    }

    private static synchronized Path build(String source, String name, String... flags) throws IOException, InterruptedException {
        Path built = BUILT.get(name);
        if (built != null) return built;
        if (gccMissing == null) gccMissing = onPath("gcc") ? "" : "gcc is not installed: the C ring peers in samples/c cannot be built";
        Assumptions.assumeTrue(gccMissing.isEmpty(), gccMissing);
        Files.createDirectories(BUILD);
        Path binary = BUILD.resolve(name);
        List<String> cc = new ArrayList<>(List.of("gcc"));
        cc.addAll(List.of(flags));
        cc.addAll(List.of("-Wall", "-Werror", "-o", binary.toString(), SAMPLES.resolve("c").resolve(source + ".c").toString()));
        Output out = run(cc, null);
        assertEquals(0, out.exit(), String.join(" ", cc) + " failed:\n" + out.text());
        BUILT.put(name, binary);
        return binary;
    }

    /** The command that runs samples/python/ring_consumer.py; skips the test when that Python lacks numpy or libatomic. */
    static synchronized List<String> python(String script) throws IOException, InterruptedException {
        if (pythonReady == null) {
            pythonReady = Files.isExecutable(Path.of(PYTHON))
                    && run(List.of(PYTHON, "-c", "import numpy, ctypes; ctypes.CDLL('libatomic.so.1')"), null).exit() == 0;
        }
        Assumptions.assumeTrue(pythonReady, PYTHON + " cannot import numpy or load libatomic.so.1"
                + " (apt-get install python3-numpy libatomic1; scripts/test does it when run as root)");
        return List.of(PYTHON, SAMPLES.resolve("python").resolve(script).toString());
    }

    /** Starts a peer with {@code ring} as its fd 3 (or with no ring when null); stdout and stderr merged. */
    static Subprocess start(FrameRing ring, List<String> command) throws IOException {
        var builder = Subprocess.builder(command)
                .stdout(Redirect.pipe())
                .mergeStderr()
                .destroyGrace(Duration.ofSeconds(2));
        if (ring != null) builder.passFd(3, Redirect.fd((int) ring.memory().nativeHandle()));
        return builder.start();
    }

    static List<String> command(Path program, String... args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(program.toString());
        cmd.addAll(List.of(args));
        return cmd;
    }

    /**
     * How long a peer may go without printing or ending before {@link #finish} gives up on it: far above any
     * peer's run under load, and below the tests' own timeouts, so a hung peer fails its test with what it
     * printed rather than leave the test thread blocked in a read after JUnit's timeout.
     */
    static final Duration SILENCE_LIMIT = Duration.ofSeconds(45);

    /**
     * Reads everything the peer prints, then waits for it to exit. A peer silent for {@link #SILENCE_LIMIT}
     * (or not exiting that long after its end of output) is killed and fails the test with its output.
     */
    static Output finish(Subprocess peer) throws IOException, InterruptedException {
        return finish(peer, SILENCE_LIMIT);
    }

    static Output finish(Subprocess peer, Duration silenceLimit) throws IOException, InterruptedException {
        var text = new ByteArrayOutputStream();
        byte[] chunk = new byte[8192];
        while (true) {
            if (!peer.stdout().awaitReadable(silenceLimit)) {
                throw hung(peer, "printed nothing for " + silenceLimit.toMillis() + " ms", text);
            }
            int n = peer.stdout().read(chunk, 0, chunk.length);
            if (n == ReadEnd.EOF) break;
            text.write(chunk, 0, n);
        }
        var exit = peer.waitFor(silenceLimit);
        if (exit.isEmpty()) throw hung(peer, "did not exit " + silenceLimit.toMillis() + " ms after its end of output", text);
        return new Output(exit.get().shellCode(), text.toString(StandardCharsets.UTF_8));
    }

    private static AssertionError hung(Subprocess peer, String what, ByteArrayOutputStream text) throws IOException {
        peer.destroy(Duration.ZERO);
        return new AssertionError(String.join(" ", peer.command()) + " (pid " + peer.pid() + ") " + what
                + "; killed. It printed:\n" + text.toString(StandardCharsets.UTF_8));
    }

    static Output run(List<String> command, FrameRing ring) throws IOException, InterruptedException {
        try (Subprocess p = start(ring, command)) {
            return finish(p);
        }
    }

    /** What a peer printed: lines of {@code [word] key value key value ...}. */
    record Output(int exit, String text) {
        /** The number after {@code key} anywhere in the output. */
        long get(String key) {
            for (String line : text.lines().toList()) {
                String[] t = line.trim().split(" +");
                for (int i = 0; i + 1 < t.length; i++) {
                    if (t[i].equals(key) && t[i + 1].matches("-?\\d+")) return Long.parseLong(t[i + 1]);
                }
            }
            throw new AssertionError("the peer did not print " + key + ":\n" + text);
        }

        /** The numbers after {@code key} on its line. */
        long[] numbers(String key) {
            for (String line : text.lines().toList()) {
                String[] t = line.trim().split(" +");
                if (t[0].equals(key)) {
                    long[] n = new long[t.length - 1];
                    for (int i = 1; i < t.length; i++) n[i - 1] = Long.parseLong(t[i]);
                    return n;
                }
            }
            throw new AssertionError("the peer did not print " + key + ":\n" + text);
        }

        /** The peer's "doorbell ..." line (how often it slept, was woken, woke its peer), for the test log. */
        String doorbell() {
            return text.lines().filter(l -> l.startsWith("doorbell")).findFirst().orElse("(no doorbell line)");
        }

        @Override
        public String toString() {
            return "exit " + exit + ":\n" + text;
        }
    }

    private static boolean onPath(String program) {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, program))) return true;
        }
        return false;
    }

    // ---- the test pattern ----

    private static final int PATTERN_MAX = 1 << 22;
    /** Bytes 0, 1, ... 255, 0, 1, ...: frame s is the run starting at (s * 31) & 0xff, copied in one go. */
    private static final MemorySegment PATTERN = pattern();

    private static MemorySegment pattern() {
        MemorySegment p = Arena.global().allocate(PATTERN_MAX + 256);
        for (int i = 0; i < p.byteSize(); i++) p.set(ValueLayout.JAVA_BYTE, i, (byte) i);
        return p;
    }

    /** Writes frame {@code seq}'s pattern into {@code pixels}; returns the sum of its bytes. */
    static long fill(MemorySegment pixels, long seq) {
        long start = (seq * 31) & 0xff;
        pixels.copyFrom(PATTERN.asSlice(start, pixels.byteSize()));
        return sum(seq, pixels.byteSize());
    }

    /** The sum of the bytes of frame {@code seq}'s pattern over {@code length} bytes. */
    static long sum(long seq, long length) {
        long start = (seq * 31) & 0xff;
        long sum = length / 256 * (255 * 256 / 2);   // whole runs of 0..255
        for (long i = 0; i < length % 256; i++) sum += (start + i) & 0xff;
        return sum;
    }

    /** Per-channel sums of frame {@code seq}'s pattern laid out as packed pixels of {@code channels} bytes. */
    static long[] channelSums(long seq, long length, int channels) {
        long[] sums = new long[channels];
        for (long i = 0; i < length; i++) sums[(int) (i % channels)] += (seq * 31 + i) & 0xff;
        return sums;
    }
}
