package dev.panpipe.bench;

import java.io.File;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The whole {@code scripts/panpipe convert} run, {@code --transport shm} against {@code --transport pipe}:
 * issue 4's last floor (shm at least 2x pipe), measured as a user would meet it, wall clock from the
 * command's start to its exit (the launcher, three JVMs' start-up and JIT, decoding, the workers'
 * conversions, encoding), on the built-in sample set or {@code --in DIR}.
 *
 * <p>Runs alternate in pairs, shm then pipe, then pipe then shm, and so on, so that a change of the host's
 * placement or of other load in the middle of the run falls on both; each side's figure is the median of its
 * runs in images per second, and the ratio is the median of the pairs' ratios (the report reads it as it
 * reads {@link PairedRun}'s, from the same JSON fields: one line per side, {@code "name":"paired_convert"}).
 * One warm-up run of each comes first (page cache, the launcher's staleness check) and is not counted. The
 * first pair's outputs are compared file by file: the two transports must write the same bytes, or the run
 * fails rather than time a broken conversion.
 *
 * <p>Usage (scripts/bench runs it once per placement):
 * {@code ConvertRun --panpipe scripts/panpipe --cpus 0 [--pairs 6] [--in DIR]}: every process of the run
 * (the launcher, convert's JVM and its worker JVMs) is started as {@code taskset -c CPUS}. Needs the cli
 * module built ({@code scripts/panpipe --help} builds it); the runs set {@code PANPIPE_NO_BUILD=1}.
 */
public final class ConvertRun {
    private static final Pattern CONVERTED = Pattern.compile("^converted (\\d+) images \\(([0-9.]+) megapixels\\)", Pattern.MULTILINE);

    private ConvertRun() {
    }

    /** One timed run: its wall-clock seconds and what it says it converted. */
    private record Run(double seconds, int images, double megapixels) {
        double imagesPerSecond() {
            return images / seconds;
        }
    }

    public static void main(String[] args) throws Exception {
        Path panpipe = null, in = null;
        String cpus = null;
        int pairs = 6;
        for (int i = 0; i < args.length; i += 2) {
            String value = i + 1 < args.length ? args[i + 1] : null;
            if (value == null) throw new IllegalArgumentException("ConvertRun: " + args[i] + " needs a value");
            switch (args[i]) {
                case "--panpipe" -> panpipe = Path.of(value);
                case "--cpus" -> cpus = value;
                case "--pairs" -> pairs = Integer.parseInt(value);
                case "--in" -> in = Path.of(value);
                default -> throw new IllegalArgumentException("ConvertRun: unknown argument " + args[i]
                        + " (--panpipe PATH --cpus LIST [--pairs N] [--in DIR])");
            }
        }
        if (panpipe == null || !Files.isExecutable(panpipe)) throw new IllegalArgumentException("ConvertRun: --panpipe must name scripts/panpipe, got " + panpipe);
        if (cpus == null || !cpus.matches("[0-9][0-9,-]*")) throw new IllegalArgumentException("ConvertRun: --cpus takes a taskset list such as 0 or 0,1, got " + cpus);
        if (pairs < 1) throw new IllegalArgumentException("ConvertRun: --pairs must be at least 1");

        Path work = Files.createTempDirectory("panpipe-convert-run-");
        try {
            run(panpipe, cpus, in, "shm", work.resolve("warm-shm"));
            run(panpipe, cpus, in, "pipe", work.resolve("warm-pipe"));
            deleteTree(work.resolve("warm-shm"));
            deleteTree(work.resolve("warm-pipe"));
            List<Run> shm = new ArrayList<>(), pipe = new ArrayList<>();
            double[] ratios = new double[pairs];
            for (int p = 0; p < pairs; p++) {
                Path shmOut = work.resolve("shm-" + p), pipeOut = work.resolve("pipe-" + p);
                Run s, q;
                if (p % 2 == 0) {
                    s = run(panpipe, cpus, in, "shm", shmOut);
                    q = run(panpipe, cpus, in, "pipe", pipeOut);
                } else {
                    q = run(panpipe, cpus, in, "pipe", pipeOut);
                    s = run(panpipe, cpus, in, "shm", shmOut);
                }
                if (s.images() != q.images()) throw new IllegalStateException("shm converted " + s.images() + " images, pipe " + q.images());
                if (p == 0) requireSameFiles(shmOut, pipeOut);
                deleteTree(shmOut);
                deleteTree(pipeOut);
                shm.add(s);
                pipe.add(q);
                ratios[p] = s.imagesPerSecond() / q.imagesPerSecond();
                System.err.printf(Locale.ROOT, "ConvertRun: pair %d: shm %.2f s, pipe %.2f s, %.2fx%n", p + 1, s.seconds(), q.seconds(), ratios[p]);
            }
            double[] inverse = new double[pairs];
            for (int p = 0; p < pairs; p++) inverse[p] = 1 / ratios[p];
            PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
            out.println(line("shm", cpus, pairs, shm, ratios));
            out.println(line("pipe", cpus, pairs, pipe, inverse));
        } finally {
            deleteTree(work);
        }
    }

    private static String line(String side, String cpus, int pairs, List<Run> runs, double[] ratios) {
        double[] rates = runs.stream().mapToDouble(Run::imagesPerSecond).sorted().toArray();
        double[] seconds = runs.stream().mapToDouble(Run::seconds).sorted().toArray();
        double[] r = ratios.clone();
        Arrays.sort(r);
        return String.format(Locale.ROOT, "{\"name\":\"paired_convert\",\"side\":\"%s\",\"pairs\":%d,\"cpus\":\"%s\",\"images\":%d,"
                        + "\"megapixels\":%.2f,\"ops_per_s\":%.3f,\"ops_per_s_min\":%.3f,\"ops_per_s_max\":%.3f,\"reps\":%d,"
                        + "\"seconds_median\":%.3f,\"seconds_min\":%.3f,\"seconds_max\":%.3f,"
                        + "\"pair_ratio_median\":%.4f,\"pair_ratio_min\":%.4f,\"pair_ratio_max\":%.4f}",
                side, pairs, cpus, runs.getFirst().images(), runs.getFirst().megapixels(), median(rates), rates[0], rates[rates.length - 1],
                runs.size(), median(seconds), seconds[0], seconds[seconds.length - 1], median(r), r[0], r[r.length - 1]);
    }

    static double median(double[] sorted) {
        int n = sorted.length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }

    private static Run run(Path panpipe, String cpus, Path in, String transport, Path out) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of("taskset", "-c", cpus, panpipe.toString(), "convert",
                "--transport", transport, "--out", out.toString(), "--no-progress"));
        if (in != null) command.addAll(List.of("--in", in.toString()));
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        pb.environment().put("PANPIPE_NO_BUILD", "1");
        long start = System.nanoTime();
        Process process = pb.start();
        byte[] output = process.getInputStream().readAllBytes();
        int status = process.waitFor();
        double seconds = (System.nanoTime() - start) / 1e9;
        String text = new String(output, StandardCharsets.UTF_8);
        if (status != 0) throw new IllegalStateException("convert --transport " + transport + " exited with " + status + ":\n" + text);
        Matcher m = CONVERTED.matcher(text);
        if (!m.find()) throw new IllegalStateException("convert --transport " + transport + " did not say what it converted:\n" + text);
        return new Run(seconds, Integer.parseInt(m.group(1)), Double.parseDouble(m.group(2)));
    }

    /** The two output trees hold the same files with the same bytes. */
    private static void requireSameFiles(Path a, Path b) throws IOException {
        List<Path> left = relativeFiles(a), right = relativeFiles(b);
        if (!left.equals(right)) throw new IllegalStateException("shm wrote " + left + ", pipe wrote " + right);
        if (left.isEmpty()) throw new IllegalStateException("convert wrote no files under " + a);
        for (Path f : left) {
            if (Files.mismatch(a.resolve(f), b.resolve(f)) != -1) throw new IllegalStateException("shm and pipe wrote different bytes to " + f);
        }
    }

    private static List<Path> relativeFiles(Path root) throws IOException {
        try (Stream<Path> s = Files.walk(root)) {
            return s.filter(Files::isRegularFile).map(root::relativize).sorted().toList();
        }
    }

    private static void deleteTree(Path root) throws IOException {
        if (!Files.exists(root)) return;
        try (Stream<Path> s = Files.walk(root)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.delete(p);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        }
    }
}
