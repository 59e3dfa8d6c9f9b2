package dev.panpipe.cli.convert;

import dev.panpipe.cli.IoErrors;
import dev.panpipe.cli.Main;
import dev.panpipe.cli.image.ImageDecodeException;
import dev.panpipe.cli.image.ImageFiles;
import dev.panpipe.cli.image.Samples;
import dev.panpipe.pixel.PixelFrame;
import dev.panpipe.worker.Workers;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;

/**
 * {@code panpipe convert}: the seed's example. Images are read in this process and sent as pixel frames to
 * worker processes, one (or {@code --workers N}) per operation; each worker converts and answers, and the
 * answers are written as PNG files. Every image goes to every operation, round-robin over its workers.
 * How frames travel is a {@link Transport}: shared-memory frame rings (the default) or pipes.
 */
@Command(name = "convert",
        mixinStandardHelpOptions = true,
        description = {
                "Converts images in worker processes: RGB->BGR (bgr) and RGB->gray (gray), bit-exact with OpenCV's "
                        + "cvtColor(COLOR_RGB2BGR / COLOR_RGB2GRAY).",
                "Each image is read here (PNG or JPEG; gray, paletted, 16-bit and alpha images are turned into 8-bit RGB "
                        + "first, alpha dropped), sent to the workers as a pixel frame, and each result written as "
                        + "OUT/<op>/<name>.png. Without --in, panpipe's built-in sample images are used."},
        footer = {"",
                "Exit status:",
                "  0   every image converted",
                "  1   some images could not be read or written (each is named on stderr; the others were converted), "
                        + "a worker failed, or the output folder or the workers' folder could not be made",
                "  2   bad arguments",
                "  130 stopped by SIGINT (Ctrl-C); 143 by SIGTERM, 129 by SIGHUP: the workers were stopped and their FIFOs removed, "
                        + "then panpipe dies of the same signal, so that a script running it stops too"})
public final class ConvertCommand implements Callable<Integer> {
    /** Some images could not be read or written, a worker failed, or a folder could not be made. */
    static final int EXIT_FAILED = 1;
    /** The most --max-megapixels allows: 700 million RGB8 pixels still fit the int-indexed rasters of ImageIO. */
    static final int MAX_MEGAPIXELS = 700;

    @Spec
    CommandSpec spec;

    @Option(names = "--in", paramLabel = "DIR", description = "Folder of PNG and JPEG images (default: the built-in samples).")
    Path in;

    @Option(names = "--out", paramLabel = "DIR", description = "Where OUT/<op>/<name>.png go (default: a new folder under the system temp dir, printed).")
    Path out;

    @Option(names = "--op", paramLabel = "OP", description = "bgr or gray; repeat for several (default: --op bgr --op gray).")
    List<String> ops = new ArrayList<>();

    @Option(names = "--workers", paramLabel = "N", defaultValue = "1", description = "Worker processes per operation (default: ${DEFAULT-VALUE}).")
    int workersPerOp;

    @Option(names = "--transport", paramLabel = "T", defaultValue = "shm",
            description = {"How frames travel: shm (a shared-memory frame ring each way per worker: images are decoded "
                    + "straight into the ring and converted in place, no pixel crosses a pipe) or pipe (frames over "
                    + "the workers' stdin and a FIFO back). Both give byte-identical output. Default: ${DEFAULT-VALUE}."})
    String transport;

    @Option(names = "--max-megapixels", paramLabel = "MP", defaultValue = "256",
            description = "Skip, naming it, an image whose header claims more than MP million pixels, before decoding it "
                    + "(a few kB of PNG can claim gigabytes); 1 to " + MAX_MEGAPIXELS + ". Default: ${DEFAULT-VALUE}.")
    int maxMegapixels;

    @Option(names = "--no-progress", description = "No progress bar, even on a terminal.")
    boolean noProgress;

    /** The signal that is stopping the run, or null. */
    private final AtomicReference<sun.misc.Signal> stoppedBy = new AtomicReference<>();
    /** The lanes whose workers a signal stops; guarded by itself. */
    private final List<Lane> watched = new ArrayList<>();
    /** Images that could not be read and results that could not be written, each named on stderr. */
    private final AtomicLong failures = new AtomicLong();
    /** Result files written whole, by the taker threads. */
    private final AtomicLong written = new AtomicLong();

    /** One image to convert: its output name, and how to open its bytes. */
    private record Input(String name, String source, Opener opener) {
    }

    private interface Opener {
        InputStream open() throws IOException;
    }

    @Override
    public Integer call() throws Exception {
        List<Operation> operations = operations();
        if (workersPerOp < 1 || workersPerOp > 64) throw new ParameterException(spec.commandLine(), "--workers must be 1 to 64: " + workersPerOp);
        if (maxMegapixels < 1 || maxMegapixels > MAX_MEGAPIXELS) {
            throw new ParameterException(spec.commandLine(), "--max-megapixels must be 1 to " + MAX_MEGAPIXELS + ": " + maxMegapixels);
        }
        long maxPixels = maxMegapixels * 1_000_000L;
        Transport chosen = switch (transport) {
            case "shm" -> Transport.SHM;
            case "pipe" -> Transport.PIPE;
            default -> throw new ParameterException(spec.commandLine(), "unknown transport '" + transport + "' (available: shm, pipe)");
        };
        PrintWriter err = spec.commandLine().getErr();
        PrintWriter stdout = spec.commandLine().getOut();
        List<Input> inputs = inputs(err);
        if (inputs.isEmpty()) {
            if (failures.get() > 0) return EXIT_FAILED;      // every one named already
            throw new ParameterException(spec.commandLine(), "no PNG or JPEG images in " + in);
        }
        Path outDir = out;
        try {
            if (outDir == null) outDir = Files.createTempDirectory("panpipe-convert-");
            for (Operation op : operations) Files.createDirectories(outDir.resolve(op.label()));
        } catch (IOException e) {
            err.println("panpipe convert: cannot make the output folder " + IoErrors.file(e, outDir) + ": " + IoErrors.reason(e));
            err.flush();
            return EXIT_FAILED;
        }
        if (out == null) stdout.println("panpipe convert: writing to " + outDir);
        stdout.flush();

        stopOnSignals();
        long started = System.nanoTime();
        long pixels = 0, converted = 0;
        long sent = 0;     // images committed to at least one worker (converted: to all of them)
        ProgressBar progress = progressBar((long) inputs.size() * operations.size());
        List<Thread> takers = new ArrayList<>();
        Set<String> workerErrors = new LinkedHashSet<>();    // a dead worker is seen by the sender and its taker alike
        List<Lane> lanes = new ArrayList<>();
        Runnable step = progress == null ? () -> { } : progress::step;
        Workers workers;
        try {
            workers = Workers.create();     // a private folder for their FIFOs, in java.io.tmpdir
        } catch (IOException e) {
            if (progress != null) progress.close();
            err.println("panpipe convert: cannot make the workers' folder: " + IoErrors.describe(e));
            err.flush();
            return EXIT_FAILED;
        }
        try (workers) {
          try {
            // The ring slots are allocated at this size: the largest image's. Pipe buffers grow as needed, so
            // their messages may be as large as the --max-megapixels limit lets an image be.
            long maxRgbBytes = 3 * (chosen == Transport.SHM ? largestPixelCount(inputs, maxPixels) : maxPixels);
            Map<Operation, List<Lane>> byOp = new EnumMap<>(Operation.class);
            // Every worker at once: each is a JVM that takes a few hundred milliseconds to connect, and none
            // needs another (one after another, the run spent the sum of their starts before the first image).
            List<String> laneNames = new ArrayList<>();
            List<Future<Lane>> starts = new ArrayList<>();
            try (ExecutorService starter = Executors.newVirtualThreadPerTaskExecutor()) {
                for (Operation op : operations) {
                    for (int i = 0; i < workersPerOp; i++) {
                        String laneName = op.label() + "-" + i;
                        laneNames.add(laneName);
                        starts.add(starter.submit(() -> {
                            if (stoppedBy.get() != null) throw new IOException("stopped");   // reported as the stop
                            return chosen.start(workers, op, laneName, maxRgbBytes);
                        }));
                    }
                }
            }
            boolean allStarted = true;
            RuntimeException unexpected = null;
            int k = 0;
            for (Operation op : operations) {
                List<Lane> list = new ArrayList<>();
                for (int i = 0; i < workersPerOp; i++, k++) {
                    Future<Lane> start = starts.get(k);     // done: the executor's close waited for it
                    if (start.state() != Future.State.SUCCESS) {
                        Throwable why = start.state() == Future.State.FAILED ? start.exceptionNow()
                                : new IOException("stopped");                         // cancelled by an interrupt
                        if (why instanceof IOException io) {
                            // A worker that died before it connected (Ctrl-C reaches the workers too), or that
                            // could not start: the run unwinds with the workers that did.
                            synchronized (workerErrors) {
                                workerErrors.add("cannot start worker " + laneNames.get(k) + ": " + io.getMessage());
                            }
                        } else if (unexpected == null) {
                            unexpected = why instanceof RuntimeException r ? r : new IllegalStateException(why);
                        }
                        allStarted = false;
                        continue;
                    }
                    Lane lane = start.resultNow();
                    lanes.add(lane);
                    list.add(lane);
                    watch(lane);
                    Path dir = outDir.resolve(op.label());
                    takers.add(Thread.ofPlatform().name("convert-" + lane.name()).start(() -> {
                        try {
                            lane.drain((name, frame) -> write(frame, dir.resolve(name + ".png"), err, step));
                        } catch (Throwable e) {
                            synchronized (workerErrors) {
                                workerErrors.add(e.getMessage() != null ? e.getMessage() : e.toString());
                            }
                            lane.stopWorker();      // nobody takes its results any more: it would block, and the sender with it
                        }
                    }));
                }
                byOp.put(op, list);
            }
            if (unexpected != null) throw unexpected;   // once every started lane is known, so that all are closed
            int index = 0;
            sending:
            for (Input input : inputs) {
                if (stoppedBy.get() != null || !allStarted) break;
                BufferedImage image;
                try (InputStream bytes = input.opener().open()) {
                    image = ImageFiles.decode(bytes, input.source(), maxPixels);
                } catch (IOException e) {
                    skip(input, e, err, progress, operations.size());
                    continue;
                }
                int w = image.getWidth();
                int h = image.getHeight();
                if (chosen == Transport.SHM && 3L * w * h > maxRgbBytes) {
                    // Rewritten since its header was read (a folder still being filled): no slot holds it.
                    skip(input, new IOException(w + "x" + h + " now, larger than its header said when the run began"
                            + " (the shared-memory slots were sized from it)"), err, progress, operations.size());
                    continue;
                }
                List<Lane> targets = new ArrayList<>(operations.size());
                for (Operation op : operations) {
                    List<Lane> list = byOp.get(op);
                    targets.add(list.get(index % list.size()));
                }
                try {
                    // Decode once, into the first lane's buffer (a ring slot with shm), copy to the others, then send.
                    MemorySegment first = targets.get(0).claim(w, h);
                    try {
                        ImageFiles.toRgb8(image, input.source(), (size, align) -> first);
                    } catch (IOException e) {
                        targets.get(0).abort();
                        skip(input, e, err, progress, operations.size());
                        continue;
                    }
                    for (Lane other : targets.subList(1, targets.size())) {
                        MemorySegment.copy(first, 0, other.claim(w, h), 0, first.byteSize());
                    }
                    boolean committedOnce = false;
                    for (Lane lane : targets) {
                        lane.commit(input.name());
                        if (!committedOnce) sent++;      // its first result is on its way, whatever the other lanes do
                        committedOnce = true;
                    }
                } catch (IOException e) {
                    synchronized (workerErrors) {
                        workerErrors.add(e.getMessage());   // a worker died or closed its end: the takers say which
                    }
                    break sending;
                }
                pixels += (long) w * h;
                converted++;
                index++;
            }
            for (Lane lane : lanes) {
                try {
                    lane.endInput();
                } catch (IOException e) {
                    synchronized (workerErrors) {
                        workerErrors.add(e.getMessage());
                    }
                }
            }
            for (Thread t : takers) t.join();
          } finally {
            // Before the workers are closed: a worker or taker still waiting on a ring wakes to its end.
            for (Lane lane : lanes) lane.close();
          }
        } finally {
            if (progress != null) progress.close();
        }
        sun.misc.Signal stop = stoppedBy.get();
        if (stop != null) {
            // What the workers said as they were stopped is no news.
            err.println("panpipe convert: stopped by SIG" + stop.getName() + "; what was converted so far is in " + outDir);
            err.flush();
            return Main.stoppedBySignal(stop.getNumber());   // died of it, once stdout is flushed
        }
        double seconds = (System.nanoTime() - started) / 1e9;
        for (String e : workerErrors) err.println("panpipe convert: " + e);
        StringBuilder perOp = new StringBuilder();
        for (Operation op : operations) perOp.append(perOp.isEmpty() ? "" : ", ").append(op.label()).append(" x").append(workersPerOp);
        // An image is converted once each operation's result is written; a worker that died, or a result that
        // could not be written, leaves images sent whose results are not all there: say so, not "converted".
        // An image sent to one worker whose next worker had died is sent, not converted: count it among the sent.
        long results = sent * operations.size();
        boolean whole = sent == converted && written.get() == results;
        String done = whole ? "converted %d images"
                : "sent %d images (only " + written.get() + " of their " + results + " results were written)";
        stdout.printf(Locale.ROOT, done + " (%.1f megapixels) in %.2f s: %.1f images/s, %.1f MB/s of RGB sent; workers: %s; transport: %s; output: %s%n",
                whole ? converted : sent, pixels / 1e6, seconds, converted / seconds, pixels * 3.0 * operations.size() / seconds / 1e6, perOp,
                transport, outDir);
        stdout.flush();
        err.flush();
        return failures.get() > 0 || !workerErrors.isEmpty() ? EXIT_FAILED : 0;
    }

    /**
     * Names an image that could not be read, and why: the decoder's reason, or the file system's (whose
     * message is the path alone for a file that vanished or may not be read).
     */
    private void skip(Input input, IOException e, PrintWriter err, ProgressBar progress, int operations) {
        failures.incrementAndGet();
        String why = e instanceof ImageDecodeException d ? "cannot decode image: " + d.reason() : IoErrors.reason(e);
        err.println("panpipe convert: skipping " + input.source() + ": " + why);
        err.flush();
        if (progress != null) progress.stepBy(operations);
    }

    /**
     * Writes one result, from a taker thread; a file that cannot be written (an I/O error, or too little heap
     * to encode it) is named and counted, and the run goes on.
     */
    private void write(PixelFrame frame, Path file, PrintWriter err, Runnable step) {
        try {
            ImageFiles.writePng(frame, file);
            written.incrementAndGet();
        } catch (IOException e) {
            failures.incrementAndGet();
            err.println("panpipe convert: cannot write " + file + ": " + IoErrors.reason(e));
            err.flush();
        } catch (OutOfMemoryError e) {
            // Encoding copies the result to the heap: a result too large for it is one file lost, not the lane.
            failures.incrementAndGet();
            err.println("panpipe convert: cannot write " + file + ": " + ImageFiles.notEnoughMemory("to encode it"));
            err.flush();
        }
        step.run();
    }

    /**
     * SIGINT, SIGTERM and SIGHUP stop the run: every worker gets SIGTERM, which wakes the sender and the
     * takers waiting on it, and the run unwinds as after a dead worker, closing the rings and the
     * workers and removing their FIFO folder; then panpipe exits 128+N. The JVM's own handlers would exit at
     * once, and leave each worker to print its dead peer's stack trace. A second signal exits at once.
     */
    private void stopOnSignals() {
        for (String name : List.of("INT", "TERM", "HUP")) {
            try {
                sun.misc.Signal.handle(new sun.misc.Signal(name), signal -> {
                    if (!stoppedBy.compareAndSet(null, signal)) {
                        Runtime.getRuntime().halt(128 + signal.getNumber());
                    }
                    synchronized (watched) {
                        for (Lane lane : watched) lane.stopWorker();
                    }
                });
            } catch (IllegalArgumentException e) {
                // reserved by the JVM (-Xrs): the default action stays
            }
        }
    }

    /** Makes the lane's worker one a signal stops, and stops it at once if a signal came while it started. */
    private void watch(Lane lane) {
        synchronized (watched) {
            watched.add(lane);
            if (stoppedBy.get() != null) lane.stopWorker();
        }
    }

    /** The largest width x height among the inputs, from their headers (sizes the shared-memory slots), up to {@code maxPixels}. */
    private static long largestPixelCount(List<Input> inputs, long maxPixels) throws IOException {
        long max = 1;
        for (Input input : inputs) {
            try (InputStream bytes = input.opener().open()) {
                long count = ImageFiles.pixelCount(bytes);
                if (count <= maxPixels) max = Math.max(max, count);    // a larger one is refused when it is decoded
            } catch (IOException unreadable) {
                // reported by name when the image itself is decoded
            }
        }
        return max;
    }

    private List<Operation> operations() {
        if (ops.isEmpty()) return List.of(Operation.BGR, Operation.GRAY);
        LinkedHashSet<Operation> set = new LinkedHashSet<>();
        for (String s : ops) {
            try {
                set.add(Operation.parse(s));
            } catch (IllegalArgumentException e) {
                throw new ParameterException(spec.commandLine(), e.getMessage());
            }
        }
        return List.copyOf(set);
    }

    /**
     * The images in --in: every entry named .png, .jpg or .jpeg that is a regular file (through links). One
     * that cannot be opened as one (a broken link, a loop of links, a FIFO) is named on stderr and counted as
     * a failure, not left out unsaid; a folder is not an image file and is passed over.
     */
    private List<Input> inputs(PrintWriter err) throws IOException {
        List<Input> list = new ArrayList<>();
        if (in == null) {
            for (String name : Samples.names()) {
                list.add(new Input(stem(name), "sample " + name, () -> Samples.open(name)));
            }
            return list;
        }
        if (!Files.isDirectory(in)) throw new ParameterException(spec.commandLine(), "--in " + in + " is not a directory");
        List<Path> entries;
        try (Stream<Path> files = Files.list(in)) {
            entries = files.sorted().toList();
        } catch (IOException | UncheckedIOException e) {     // the stream throws the latter as it reads
            IOException cause = e instanceof UncheckedIOException u ? u.getCause() : (IOException) e;
            throw new ParameterException(spec.commandLine(), "cannot list --in " + in + ": " + IoErrors.reason(cause));
        }
        Map<String, Path> owners = new HashMap<>();    // output name -> the input written under it
        for (Path p : entries) {
            String lower = p.getFileName().toString().toLowerCase(Locale.ROOT);
            if (!(lower.endsWith(".png") || lower.endsWith(".jpg") || lower.endsWith(".jpeg"))) continue;
            String unreadable;
            try {
                BasicFileAttributes a = Files.readAttributes(p, BasicFileAttributes.class);
                if (a.isDirectory()) continue;
                if (a.isRegularFile() && !encodable(p.getFileName().toString() + ".png")) {
                    // Read through its bytes, but OUT/<op>/<name>.png is made from a String: a taker would throw.
                    unreadable = "its name cannot be encoded in this locale's character set (" + System.getProperty("sun.jnu.encoding")
                            + "); run panpipe in a UTF-8 locale (LC_ALL=C.UTF-8)";
                } else if (a.isRegularFile()) {
                    String name = outputName(p, owners, err);
                    if (name != null) {
                        list.add(new Input(name, p.toString(), () -> Files.newInputStream(p)));
                        continue;
                    }
                    unreadable = "its output names " + stem(p.getFileName().toString()) + ".png and " + p.getFileName()
                            + ".png are both taken";
                } else {
                    unreadable = "not a regular file (a FIFO, socket or device)";    // opening a FIFO would wait for a writer
                }
            } catch (NoSuchFileException e) {
                unreadable = Files.isSymbolicLink(p) ? "a broken symbolic link to " + Files.readSymbolicLink(p) : "it is gone";
            } catch (IOException e) {
                unreadable = IoErrors.reason(e);
            }
            failures.incrementAndGet();
            err.println("panpipe convert: skipping " + p + ": " + unreadable);
            err.flush();
        }
        return list;
    }

    /**
     * The name {@code file}'s results are written under: its name without the extension, or, if an earlier
     * input (a.jpg before a.png) has that one already, its whole name (a.png.png), said on stderr; null if
     * both are taken. Two inputs written under one name would lose one result, and with --workers 2 or more
     * two threads would write the one file at once.
     */
    private static String outputName(Path file, Map<String, Path> owners, PrintWriter err) {
        String fileName = file.getFileName().toString();
        String stem = stem(fileName);
        if (owners.putIfAbsent(stem, file) == null) return stem;
        if (owners.putIfAbsent(fileName, file) != null) return null;
        err.println("panpipe convert: " + file + " is written as " + fileName + ".png (" + stem + ".png is " + owners.get(stem) + "'s)");
        err.flush();
        return fileName;
    }

    /** False if {@code fileName} cannot be a path in the JVM's file name encoding (a non-ASCII name without a UTF-8 locale). */
    private static boolean encodable(String fileName) {
        try {
            Path.of(fileName);
            return true;
        } catch (InvalidPathException e) {
            return false;
        }
    }

    private static String stem(String fileName) {
        int dot = fileName.lastIndexOf('.');
        return dot > 0 ? fileName.substring(0, dot) : fileName;
    }

    /** A progress bar on a terminal only: piped or redirected output stays clean. */
    private ProgressBar progressBar(long total) {
        if (noProgress || System.console() == null) return null;
        return new ProgressBarBuilder().setTaskName("convert").setInitialMax(total).setStyle(ProgressBarStyle.ASCII)
                .setUpdateIntervalMillis(200).continuousUpdate().build();
    }
}
