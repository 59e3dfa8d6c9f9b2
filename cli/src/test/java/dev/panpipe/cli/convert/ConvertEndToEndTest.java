package dev.panpipe.cli.convert;

import dev.panpipe.cli.CallingScript;
import dev.panpipe.testing.OpenCvOracle;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code scripts/panpipe convert} end to end: real worker processes, real files, and OpenCV's cvtColor
 * (Debian's /usr/bin/python3 with python3-opencv) as the oracle for every output pixel.
 */
@Tag("end-to-end")   // runs after package (see cli/pom.xml), also when picked with -Dtest
@Timeout(120)
class ConvertEndToEndTest {
    private static final String ORACLE = """
            import sys, cv2, numpy as np
            src, gray, bgr = sys.argv[1:4]
            rgb = cv2.cvtColor(cv2.imread(src, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
            got_gray = cv2.imread(gray, cv2.IMREAD_UNCHANGED)
            exp_gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
            assert got_gray.shape == exp_gray.shape, (gray, got_gray.shape, exp_gray.shape)
            bad = int(np.count_nonzero(got_gray != exp_gray))
            assert bad == 0, "%s: %d gray pixels differ from cv2.COLOR_RGB2GRAY" % (gray, bad)
            # panpipe writes BGR8 bytes as if they were RGB; imread hands PNG channels back reversed
            got_bgr = cv2.imread(bgr, cv2.IMREAD_UNCHANGED)[..., ::-1]
            exp_bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
            bad = int(np.count_nonzero(got_bgr != exp_bgr))
            assert bad == 0, "%s: %d bgr bytes differ from cv2.COLOR_RGB2BGR" % (bgr, bad)
            print("ok", src)
            """;

    static Path launcher;
    static Path samples;

    @TempDir
    Path dir;

    record Run(int exit, String out, String err) {
    }

    @BeforeAll
    static void locate() throws IOException {
        Path root = Path.of(System.getProperty("panpipe.root", "..")).toRealPath();
        launcher = root.resolve("scripts/panpipe");
        samples = root.resolve("cli/src/main/resources/dev/panpipe/cli/samples");
    }

    private Run panpipe(String... args) throws Exception {
        return finish(start(args), 100);
    }

    private Process start(String... args) throws IOException {
        return start(env -> { }, args);
    }

    /** Starts panpipe with {@code args}, its environment changed by {@code environment} first. */
    private Process start(java.util.function.Consumer<java.util.Map<String, String>> environment, String... args) throws IOException {
        List<String> command = new ArrayList<>(List.of(launcher.toString()));
        command.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(command).directory(dir.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectOutput(dir.resolve("stdout.txt").toFile()).redirectError(dir.resolve("stderr.txt").toFile());
        pb.environment().put("PANPIPE_NO_BUILD", "1");
        environment.accept(pb.environment());
        return pb.start();
    }

    private Run finish(Process p, int seconds) throws Exception {
        if (!p.waitFor(seconds, TimeUnit.SECONDS)) {
            // Its workers first: they are not in a group of their own, and would outlive it.
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly().waitFor();
            throw new AssertionError(p.info().commandLine().orElse("panpipe") + " did not finish in " + seconds + " s; stderr:\n"
                    + Files.readString(dir.resolve("stderr.txt"), StandardCharsets.UTF_8));
        }
        return new Run(p.exitValue(), Files.readString(dir.resolve("stdout.txt"), StandardCharsets.UTF_8),
                Files.readString(dir.resolve("stderr.txt"), StandardCharsets.UTF_8));
    }

    /** {@code count} copies of the sample {@code name} in a new folder {@code folder}, as img001.png and on. */
    private Path copies(String folder, String name, int count) throws IOException {
        Path in = Files.createDirectories(dir.resolve(folder));
        String ext = name.substring(name.lastIndexOf('.'));
        for (int i = 1; i <= count; i++) Files.copy(samples.resolve(name), in.resolve("img%03d%s".formatted(i, ext)));
        return in;
    }

    @Test
    void shouldMatchOpenCvForEveryPixelAndNameTheFileItCannotRead() throws Exception {
        OpenCvOracle.assumeAvailable();
        Path in = Files.createDirectories(dir.resolve("in"));
        List<String> pngs = new ArrayList<>();
        try (var files = Files.list(samples)) {
            for (Path p : files.filter(f -> f.toString().endsWith(".png")).sorted().toList()) {
                Files.copy(p, in.resolve(p.getFileName()));
                pngs.add(p.getFileName().toString());
            }
        }
        Files.writeString(in.resolve("broken.png"), "this is not a PNG");
        Files.writeString(in.resolve("notes.txt"), "not an image, not looked at");
        Path out = dir.resolve("out");

        Run r = panpipe("convert", "--in", in.toString(), "--out", out.toString(), "--workers", "2", "--no-progress");

        assertEquals(1, r.exit(), "one unreadable input: exit 1\n" + r.err());
        assertTrue(r.err().contains("broken.png"), r.err());
        assertTrue(r.out().startsWith("converted " + pngs.size() + " images"), r.out());
        assertTrue(r.out().contains("workers: bgr x2, gray x2"), r.out());
        for (String png : pngs) {
            String output = OpenCvOracle.check(dir, ORACLE, in.resolve(png).toString(),
                    out.resolve("gray").resolve(png).toString(), out.resolve("bgr").resolve(png).toString());
            assertTrue(output.startsWith("ok"), output);
        }
    }

    @Test
    void shouldUseTheBuiltInSamplesAndAFreshFolderByDefault() throws Exception {
        Run r = panpipe("convert", "--op", "gray", "--no-progress");
        assertEquals(0, r.exit(), r.err());
        String first = r.out().lines().findFirst().orElseThrow();
        assertTrue(first.startsWith("panpipe convert: writing to "), r.out());
        Path out = Path.of(first.substring("panpipe convert: writing to ".length()));
        try (InputStream index = Files.newInputStream(samples.resolve("index.txt"))) {
            long expected = new String(index.readAllBytes(), StandardCharsets.UTF_8).lines().filter(l -> !l.isBlank() && !l.startsWith("#")).count();
            try (var files = Files.list(out.resolve("gray"))) {
                assertEquals(expected, files.count());
            }
        } finally {
            try (var walk = Files.walk(out)) {
                for (Path p : walk.sorted(java.util.Comparator.reverseOrder()).toList()) Files.delete(p);
            }
        }
    }

    @Test
    void shouldWriteByteIdenticalFilesOverSharedMemoryAndOverPipes() throws Exception {
        Path shm = dir.resolve("shm"), pipe = dir.resolve("pipe");
        Run viaShm = panpipe("convert", "--out", shm.toString(), "--transport", "shm", "--workers", "2", "--no-progress");
        Run viaPipe = panpipe("convert", "--out", pipe.toString(), "--transport", "pipe", "--no-progress");
        assertEquals(0, viaShm.exit(), viaShm.err());
        assertEquals(0, viaPipe.exit(), viaPipe.err());
        assertTrue(viaShm.out().contains("transport: shm"), viaShm.out());
        assertTrue(viaPipe.out().contains("transport: pipe"), viaPipe.out());
        List<Path> files;
        try (var walk = Files.walk(pipe)) {
            files = walk.filter(Files::isRegularFile).map(pipe::relativize).sorted().toList();
        }
        assertTrue(files.size() >= 2 * 9, "expected every sample in bgr/ and gray/: " + files);
        for (Path f : files) {
            assertArrayEquals(Files.readAllBytes(pipe.resolve(f)), Files.readAllBytes(shm.resolve(f)), "differs: " + f);
        }
        try (var walk = Files.walk(shm)) {
            assertEquals(files.size(), walk.filter(Files::isRegularFile).count());
        }
    }

    @Test
    void shouldSayWhyTheOutputFolderCannotBeMade() throws Exception {
        // Files.createDirectories' exception went to picocli: "internal error", a stack trace, exit 70.
        Path in = copies("in", "gray-512x384.png", 1);
        Path file = Files.writeString(dir.resolve("a-file"), "not a folder");
        for (Path out : List.of(file, file.resolve("sub"))) {
            Run r = panpipe("convert", "--in", in.toString(), "--out", out.toString(), "--no-progress");
            assertEquals(1, r.exit(), r.err());
            assertEquals(1, r.err().lines().count(), r.err());
            assertTrue(r.err().startsWith("panpipe convert: cannot make the output folder " + out), r.err());
            assertTrue(r.err().endsWith(": Not a directory\n"), r.err());
        }
    }

    @Test
    void shouldRefuseAnInFolderItCannotListWithExit2() throws Exception {
        // Files.list's AccessDeniedException reached picocli: 'internal error', a stack trace, exit 70.
        Path locked = Files.createDirectories(dir.resolve("locked"));
        Files.setPosixFilePermissions(locked, java.util.Set.of());
        Path unlistable = canList(locked) ? Path.of("/proc/1/map_files") : locked;   // root reads a mode 000 folder
        org.junit.jupiter.api.Assumptions.assumeFalse(canList(unlistable), "no folder this user cannot list");
        Run r = panpipe("convert", "--in", unlistable.toString(), "--no-progress");
        assertEquals(2, r.exit(), r.err());
        assertTrue(r.err().startsWith("panpipe convert: cannot list --in " + unlistable + ": permission denied\n"), r.err());
    }

    private static boolean canList(Path folder) {
        try (var files = Files.list(folder)) {
            files.count();
            return true;
        } catch (IOException | java.io.UncheckedIOException e) {
            return false;
        }
    }

    @Test
    void shouldSayWhyTheWorkersFolderCannotBeMade() throws Exception {
        // Workers.create makes the workers' FIFO folder in java.io.tmpdir; its exception was an internal error.
        Path in = copies("in", "gray-512x384.png", 1);
        Path notAFolder = Files.writeString(dir.resolve("tmp-file"), "");
        ProcessBuilder pb = new ProcessBuilder(launcher.toString(), "convert", "--in", in.toString(), "--out",
                dir.resolve("out").toString(), "--no-progress").directory(dir.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectOutput(dir.resolve("stdout.txt").toFile()).redirectError(dir.resolve("stderr.txt").toFile());
        pb.environment().put("PANPIPE_NO_BUILD", "1");
        pb.environment().put("PANPIPE_JAVA_OPTS", "-Djava.io.tmpdir=" + notAFolder);
        Run r = finish(pb.start(), 60);
        assertEquals(1, r.exit(), r.err());
        assertTrue(r.err().contains("panpipe convert: cannot make the workers' folder: " + notAFolder + "/panpipe-workers-"), r.err());
        assertTrue(r.err().endsWith(": Not a directory\n"), r.err());
        assertFalse(r.err().contains("internal error"), r.err());
    }

    @Test
    void shouldNameEachOutputFileItCannotWriteAndFinishTheOthers() throws Exception {
        // A result that could not be written ended its lane's taker; the worker then filled the ring (or
        // pipe) back, and the sender waited for room in the ring to it for ever.
        Path in = copies("in", "gray-512x384.png", 12);
        for (String transport : List.of("shm", "pipe")) {
            Path out = dir.resolve("out-" + transport);
            Files.createDirectories(out.resolve("gray/img001.png"));                                  // EISDIR at open
            Files.createDirectories(out.resolve("bgr"));
            Files.createSymbolicLink(out.resolve("bgr/img002.png"), Path.of("/dev/full"));           // ENOSPC at write
            assertEquals(0, new ProcessBuilder("mkfifo", out.resolve("gray/img003.png").toString()).start().waitFor());
            Run r = finish(start("convert", "--in", in.toString(), "--out", out.toString(), "--no-progress",
                    "--transport", transport), 40);
            assertEquals(1, r.exit(), transport + ": " + r.err());
            assertTrue(r.err().contains("panpipe convert: cannot write " + out.resolve("gray/img001.png") + ": Is a directory"), r.err());
            assertTrue(r.err().contains("panpipe convert: cannot write " + out.resolve("bgr/img002.png") + ": No space left on device"), r.err());
            // open(2) of a FIFO waits for a reader: that taker, its worker and the sender would wait for ever.
            assertTrue(r.err().contains("panpipe convert: cannot write " + out.resolve("gray/img003.png")
                    + ": a FIFO (opening it would wait for a reader)"), r.err());
            assertEquals(3, r.err().lines().count(), r.err());
            assertTrue(r.out().startsWith("sent 12 images (only 21 of their 24 results were written)"), r.out());
            try (var gray = Files.list(out.resolve("gray")); var bgr = Files.list(out.resolve("bgr"))) {
                assertEquals(12, gray.count(), "10 results, the folder and the FIFO in the way");
                assertEquals(12, bgr.count(), "11 results and the link to /dev/full");
            }
        }
    }

    @Test
    void shouldRefuseAnImageTooLargeFromItsHeaderBeforeDecodingIt() throws Exception {
        // A decompression bomb claims 30000 x 30000 pixels in a few MB of zlib'd zeros, and ImageIO allocates the
        // 2.7 GB raster before it reads them (with less heap: 'Caught exception during read: ', nothing more).
        // The header alone must be enough to refuse it, so the test needs no more than the header.
        Path in = copies("in", "gray-512x384.png", 1);
        Files.write(in.resolve("bomb.png"), pngHeader(30_000, 30_000));
        Run r = finish(start("convert", "--in", in.toString(), "--out", dir.resolve("out").toString(), "--no-progress"), 60);
        assertEquals(1, r.exit(), r.err());
        assertEquals("panpipe convert: skipping " + in.resolve("bomb.png")
                + ": cannot decode image: 30000x30000 is 900 megapixels, over the limit of 256 (--max-megapixels)\n", r.err());
        assertTrue(r.out().startsWith("converted 1 images"), r.out());

        Run bad = panpipe("convert", "--max-megapixels", "0");
        assertEquals(2, bad.exit(), bad.err());
        assertTrue(bad.err().contains("--max-megapixels must be 1 to 700: 0"), bad.err());
    }

    /** A PNG signature, an RGB8 IHDR for {@code width x height} with a valid CRC, and nothing else. */
    private static byte[] pngHeader(int width, int height) {
        java.nio.ByteBuffer ihdr = java.nio.ByteBuffer.allocate(17).put("IHDR".getBytes(StandardCharsets.US_ASCII))
                .putInt(width).putInt(height).put((byte) 8).put((byte) 2).put((byte) 0).put((byte) 0).put((byte) 0);
        java.util.zip.CRC32 crc = new java.util.zip.CRC32();
        crc.update(ihdr.array());
        return java.nio.ByteBuffer.allocate(8 + 4 + 17 + 4).put(new byte[]{(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'})
                .putInt(13).put(ihdr.array()).putInt((int) crc.getValue()).array();
    }

    @Test
    void shouldNameAnImageNameItCannotOpenInsteadOfSkippingItSilently() throws Exception {
        // Files.isRegularFile is false for a broken link, a link loop and a FIFO: they were left out unsaid, exit 0.
        Path in = copies("in", "gray-512x384.png", 1);
        Files.createSymbolicLink(in.resolve("dangling.png"), dir.resolve("nowhere.png"));
        Files.createSymbolicLink(in.resolve("loop-a.png"), in.resolve("loop-b.png"));
        Files.createSymbolicLink(in.resolve("loop-b.png"), in.resolve("loop-a.png"));
        assertEquals(0, new ProcessBuilder("mkfifo", in.resolve("fifo.png").toString()).start().waitFor());
        Files.createDirectories(in.resolve("folder.png"));          // a folder is not an image file: not mentioned
        Run r = finish(start("convert", "--in", in.toString(), "--out", dir.resolve("out").toString(), "--no-progress"), 60);
        assertEquals(1, r.exit(), r.err());
        List<String> expected = List.of(
                "panpipe convert: skipping " + in.resolve("dangling.png") + ": a broken symbolic link to " + dir.resolve("nowhere.png"),
                "panpipe convert: skipping " + in.resolve("fifo.png") + ": not a regular file (a FIFO, socket or device)",
                "panpipe convert: skipping " + in.resolve("loop-a.png") + ": Too many levels of symbolic links",
                "panpipe convert: skipping " + in.resolve("loop-b.png") + ": Too many levels of symbolic links");
        List<String> lines = r.err().lines().toList();
        assertEquals(expected.size(), lines.size(), r.err());
        for (int i = 0; i < lines.size(); i++) assertTrue(lines.get(i).startsWith(expected.get(i)), r.err());
        assertTrue(r.out().startsWith("converted 1 images"), r.out());
    }

    @Test
    void shouldGiveImagesWhoseNamesDifferOnlyByExtensionAnOutputFileEach() throws Exception {
        // same.jpg and same.png were both written as OUT/<op>/same.png: one result lost, exit 0 all the same
        // (and with --workers 2 two takers wrote the one file at once).
        Path in = Files.createDirectories(dir.resolve("in"));
        Files.copy(samples.resolve("photo-1024x768.jpg"), in.resolve("same.jpg"));
        Files.copy(samples.resolve("gray-512x384.png"), in.resolve("same.png"));
        Path out = dir.resolve("out");
        Run r = finish(start("convert", "--in", in.toString(), "--out", out.toString(), "--workers", "2", "--no-progress"), 60);
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().startsWith("converted 2 images"), r.out());
        assertEquals("panpipe convert: " + in.resolve("same.png") + " is written as same.png.png (same.png is "
                + in.resolve("same.jpg") + "'s)\n", r.err());
        for (String op : List.of("gray", "bgr")) {
            assertEquals(1024, pngWidth(out.resolve(op).resolve("same.png")), op + "/same.png is same.jpg's");
            assertEquals(512, pngWidth(out.resolve(op).resolve("same.png.png")), op + "/same.png.png is same.png's");
        }
    }

    /** A folder of big.png, a black gray PNG of {@code width x height}, and small.png, a gray sample. */
    private Path bigGrayAndSmall(int width, int height) throws IOException {
        Path in = Files.createDirectories(dir.resolve("in"));
        java.awt.image.BufferedImage big = new java.awt.image.BufferedImage(width, height, java.awt.image.BufferedImage.TYPE_BYTE_GRAY);
        assertTrue(javax.imageio.ImageIO.write(big, "png", in.resolve("big.png").toFile()));
        Files.copy(samples.resolve("gray-512x384.png"), in.resolve("small.png"));
        return in;
    }

    /** The width in a PNG file's IHDR. */
    private static int pngWidth(Path png) throws IOException {
        return java.nio.ByteBuffer.wrap(Files.readAllBytes(png)).getInt(16);
    }

    @Test
    void shouldStopItsWorkersAndCleanUpWhenTerminatedMidRun() throws Exception {
        // SIGTERM ended the JVM at once: each worker then wrote a PeerDiedException stack trace to the
        // terminal and the workers' FIFO folder stayed in /tmp.
        stopMidRun("shm", false);
    }

    @Test
    void shouldStopQuietlyOnCtrlCReachingTheWholeProcessGroup() throws Exception {
        // Ctrl-C at a terminal signals panpipe and its workers, which share its process group.
        stopMidRun("pipe", true);
    }

    @Test
    void shouldDieOfSigintOnceStoppedSoThatACallingScriptStopsToo() throws Exception {
        copies("in", "photo-1024x768.jpg", 150);
        Path gray = dir.resolve("out").resolve("gray");
        CallingScript.assertStopsOnCtrlC(launcher, "convert --in in --out out --no-progress",
                () -> countFilesUnchecked(gray) >= 2, dir);
        assertTrue(countFiles(gray) < 150, "stopped mid-run");
    }

    @Test
    void shouldStopQuietlyOnCtrlCWhileTheWorkersStart() throws Exception {
        // A worker that Ctrl-C ended before it connected made Workers.start throw WorkerDiedException out of
        // the command: "internal error", a stack trace, exit 70. Eight workers take seconds to start, and the
        // signal comes as soon as the first one exists.
        Path in = copies("in", "gray-512x384.png", 3);
        ProcessBuilder pb = new ProcessBuilder("setsid", launcher.toString(), "convert", "--in", in.toString(),
                "--out", dir.resolve("out").toString(), "--no-progress", "--workers", "4").directory(dir.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectOutput(dir.resolve("stdout.txt").toFile()).redirectError(dir.resolve("stderr.txt").toFile());
        pb.environment().put("PANPIPE_NO_BUILD", "1");
        Process p = pb.start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (p.children().noneMatch(c -> isJava(c) && isJava(p.toHandle()))) {    // not the launcher's own helpers
            assertTrue(p.isAlive() && System.nanoTime() < deadline, "a worker started");
            Thread.sleep(5);
        }
        assertEquals(0, new ProcessBuilder("kill", "-INT", "--", "-" + p.pid()).start().waitFor());
        Run r = finish(p, 30);
        assertEquals(130, r.exit(), r.err());
        assertEquals("panpipe convert: stopped by SIGINT; what was converted so far is in " + dir.resolve("out") + "\n", r.err());
    }

    @Test
    void shouldNameAWorkerKilledMidRunAndExit1() throws Exception {
        // Over shared memory the run said only "the ring's producer (pid N) died ...", twice in other words:
        // not which worker, nor how it ended, as the pipe transport does.
        for (String transport : List.of("shm", "pipe")) {
            Path in = copies("in-" + transport, "photo-1024x768.jpg", 150);
            Path out = dir.resolve("out-" + transport);
            Process p = start("convert", "--in", in.toString(), "--out", out.toString(), "--no-progress", "--transport", transport);
            awaitGrayFiles(p, out, 2);
            List<ProcessHandle> workers = p.children().toList();
            ProcessHandle gray = workers.stream()
                    .filter(w -> w.info().arguments().map(a -> List.of(a).contains("gray")).orElse(false)).findFirst().orElseThrow();
            gray.destroyForcibly();
            Run r = finish(p, 30);
            assertEquals(1, r.exit(), transport + ": " + r.err());
            assertTrue(r.err().contains("panpipe convert: worker gray-0 died: killed by SIGKILL"), transport + ": " + r.err());
            // Images sent to gray-0 that it never answered were called converted (92, with 88 gray files): the
            // count is of images whose every result is written, or it says how many results are.
            long files;
            try (var grayFiles = Files.list(out.resolve("gray")); var bgrFiles = Files.list(out.resolve("bgr"))) {
                files = grayFiles.count() + bgrFiles.count();
            }
            java.util.regex.Matcher all = java.util.regex.Pattern.compile("converted (\\d+) images ").matcher(r.out());
            java.util.regex.Matcher some = java.util.regex.Pattern.compile("sent (\\d+) images \\(only (\\d+) of their (\\d+) results were written\\)").matcher(r.out());
            if (all.lookingAt()) {
                assertEquals(2 * Long.parseLong(all.group(1)), files, transport + ": " + r.out());
            } else {
                assertTrue(some.lookingAt(), transport + ": " + r.out());
                assertEquals(Long.parseLong(some.group(2)), files, transport + ": " + r.out());
                assertEquals(2 * Long.parseLong(some.group(1)), Long.parseLong(some.group(3)), transport + ": " + r.out());
                assertTrue(files < Long.parseLong(some.group(3)), transport + ": " + r.out());
            }
            for (ProcessHandle w : workers) {
                assertTrue(w.onExit().get(10, TimeUnit.SECONDS) != null && !w.isAlive(), "worker " + w.pid() + " ended");
            }
            try (var tmp = Files.list(Path.of(System.getProperty("java.io.tmpdir")))) {
                assertEquals(List.of(), tmp.filter(f -> f.getFileName().toString().startsWith("panpipe-workers-" + p.pid() + "-")).toList(),
                        "the workers' FIFO folder is removed");
            }
        }
    }

    @Test
    void shouldSkipAnImageThatGrewAfterTheSlotsWereSizedAndGoOn() throws Exception {
        // The shared-memory slots are sized from the headers before the run; an image rewritten larger meanwhile
        // (a folder still being filled) made FrameProducer.claim throw out of the command: "internal error",
        // a stack trace, exit 70, and the images after it not converted.
        Path in = copies("in", "photo-1024x768.jpg", 24);
        Files.copy(samples.resolve("gray-512x384.png"), in.resolve("img020b.png"));    // the 21st, made larger once the run goes
        // The larger one is encoded before the run: once it goes, only a rename stands between its first file and
        // the sender's reaching img020b.png, not an encoding in this JVM that a busy machine may stretch.
        java.awt.image.BufferedImage larger = new java.awt.image.BufferedImage(1100, 800, java.awt.image.BufferedImage.TYPE_3BYTE_BGR);
        Path replacement = dir.resolve("larger.png");
        assertTrue(javax.imageio.ImageIO.write(larger, "png", replacement.toFile()));
        Path out = dir.resolve("out");
        Process p = start("convert", "--in", in.toString(), "--out", out.toString(), "--no-progress");
        awaitGrayFiles(p, out, 1);
        Files.move(replacement, in.resolve("img020b.png"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        // The rings back and forth hold 4 images each: the sender is at most about 11 ahead of the files written.
        // Counted after the move, so that it says the move came before the sender reached img020b.png.
        assertTrue(countFiles(out.resolve("gray")) < 10, "replaced still well before img020b.png was reached");
        Run r = finish(p, 60);
        assertEquals(1, r.exit(), r.err());
        assertEquals("panpipe convert: skipping " + in.resolve("img020b.png") + ": 1100x800 now, larger than its header said"
                + " when the run began (the shared-memory slots were sized from it)\n", r.err());
        assertEquals(24, countFiles(out.resolve("gray")), "the others converted");
    }

    @Test
    void shouldNameAResultTooLargeForTheHeapAndWriteTheWorkersOtherResults() throws Exception {
        // A 60-megapixel gray PNG decodes in 60 MB of heap, but its bgr result is encoded from a 180 MB copy.
        // The OutOfMemoryError ended the bgr taker: "panpipe convert: Java heap space" named no file, an empty
        // bgr/big.png stayed, and the worker's later results were lost.
        Path in = bigGrayAndSmall(8000, 7500);
        Path out = dir.resolve("out");
        Run r = finish(start(env -> env.put("PANPIPE_JAVA_OPTS", "-Xmx160m"),
                "convert", "--in", in.toString(), "--out", out.toString(), "--no-progress"), 60);
        assertEquals(1, r.exit(), r.err());
        assertEquals("panpipe convert: cannot write " + out.resolve("bgr/big.png") + ": not enough memory to encode it"
                + " (the JVM may use 160 MB; give it more with PANPIPE_JAVA_OPTS=-Xmx...)\n", r.err());
        assertFalse(Files.exists(out.resolve("bgr/big.png")), "no partial file");
        assertTrue(Files.exists(out.resolve("bgr/small.png")), "the worker's next result");
        assertTrue(Files.exists(out.resolve("gray/big.png")) && Files.exists(out.resolve("gray/small.png")));
    }

    @Test
    void shouldSendOverPipesEveryImageTheMegapixelLimitLetsThrough() throws Exception {
        // 90 megapixels are 270 MB of RGB8, over a worker connection's default 256 MiB message limit:
        // --transport pipe failed the whole run with "encoded message of 270000016 bytes exceeds the maximum
        // message size", naming no image and converting none, where shm converts it (limit: 256 megapixels).
        Path in = bigGrayAndSmall(9000, 10000);
        Path out = dir.resolve("out");
        Run r = finish(start("convert", "--in", in.toString(), "--out", out.toString(), "--no-progress", "--transport", "pipe",
                "--op", "bgr"), 100);
        assertEquals(0, r.exit(), r.err());
        for (String f : List.of("bgr/big.png", "bgr/small.png")) {
            assertTrue(Files.exists(out.resolve(f)), f);
        }
        assertEquals(9000, pngWidth(out.resolve("bgr/big.png")));
    }

    @Test
    void shouldSkipANameTheLocaleCannotEncodeAndConvertTheOthers() throws Exception {
        // Without a UTF-8 locale (LANG unset, as in many containers) the JVM cannot encode "café" in a path:
        // resolving OUT/gray/café.png threw InvalidPathException in the lane's taker, which then stopped its
        // worker, so every later image of that lane was lost, with "Malformed input or input contains
        // unmappable characters: caf??.png" as the only word of it.
        org.junit.jupiter.api.Assumptions.assumeTrue("UTF-8".equals(System.getProperty("sun.jnu.encoding")), "this JVM can name café.png");
        Path in = Files.createDirectories(dir.resolve("in"));
        Files.copy(samples.resolve("gray-512x384.png"), in.resolve("café.png"));
        Files.copy(samples.resolve("gray-512x384.png"), in.resolve("zz.png"));
        Path out = dir.resolve("out");
        Run r = finish(start(env -> env.keySet().removeIf(k -> k.equals("LANG") || k.startsWith("LC_")),
                "convert", "--in", in.toString(), "--out", out.toString(), "--no-progress"), 60);
        assertEquals(1, r.exit(), r.err());
        assertEquals(1, r.err().lines().count(), r.err());
        assertTrue(r.err().startsWith("panpipe convert: skipping " + in + "/caf"), r.err());
        assertTrue(r.err().endsWith(".png: its name cannot be encoded in this locale's character set (ANSI_X3.4-1968);"
                + " run panpipe in a UTF-8 locale (LC_ALL=C.UTF-8)\n"), r.err());
        assertTrue(Files.exists(out.resolve("gray/zz.png")) && Files.exists(out.resolve("bgr/zz.png")), "the others converted");
    }

    private static boolean isJava(ProcessHandle h) {
        return h.info().command().map(c -> c.endsWith("/java")).orElse(false);
    }

    private void stopMidRun(String transport, boolean wholeGroup) throws Exception {
        Path in = copies("in", "photo-1024x768.jpg", 150);
        Path out = dir.resolve("out");
        // setsid: a process group of its own, so that a signal to the group reaches panpipe and its workers only.
        List<String> command = new ArrayList<>(List.of("setsid", launcher.toString(), "convert", "--in", in.toString(),
                "--out", out.toString(), "--no-progress", "--transport", transport));
        ProcessBuilder pb = new ProcessBuilder(command).directory(dir.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectOutput(dir.resolve("stdout.txt").toFile()).redirectError(dir.resolve("stderr.txt").toFile());
        pb.environment().put("PANPIPE_NO_BUILD", "1");
        Process p = pb.start();
        awaitGrayFiles(p, out, 2);
        List<ProcessHandle> workers = p.children().toList();
        assertEquals(2, workers.size(), "two workers: " + workers);
        String signal = wholeGroup ? "-INT" : "-TERM";
        String target = wholeGroup ? "-" + p.pid() : String.valueOf(p.pid());
        assertEquals(0, new ProcessBuilder("kill", signal, "--", target).start().waitFor());
        int exit = finish(p, 30).exit();
        assertEquals(wholeGroup ? 130 : 143, exit);
        assertTrue(countFiles(out.resolve("gray")) < 150, "stopped mid-run");
        for (ProcessHandle w : workers) {
            assertTrue(w.onExit().get(10, TimeUnit.SECONDS) != null && !w.isAlive(), "worker " + w.pid() + " ended");
        }
        try (var tmp = Files.list(Path.of(System.getProperty("java.io.tmpdir")))) {
            assertEquals(List.of(), tmp.filter(f -> f.getFileName().toString().startsWith("panpipe-workers-" + p.pid() + "-")).toList(),
                    "the workers' FIFO folder is removed");
        }
        // Read once the workers are gone: what they print as they die counts too.
        assertEquals("panpipe convert: stopped by SIG" + signal.substring(1) + "; what was converted so far is in " + out + "\n",
                Files.readString(dir.resolve("stderr.txt"), StandardCharsets.UTF_8));
    }

    /** Waits (up to 60 s) until panpipe {@code p} has written {@code count} files to OUT/gray. */
    private void awaitGrayFiles(Process p, Path out, int count) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (countFiles(out.resolve("gray")) < count) {
            assertTrue(p.isAlive() && System.nanoTime() < deadline, "convert got going; stderr: "
                    + Files.readString(dir.resolve("stderr.txt"), StandardCharsets.UTF_8));
            Thread.sleep(5);
        }
    }

    private static long countFilesUnchecked(Path folder) {
        try {
            return countFiles(folder);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static long countFiles(Path folder) throws IOException {
        if (!Files.isDirectory(folder)) return 0;
        try (var files = Files.list(folder)) {
            return files.count();
        }
    }

    @Test
    void shouldRefuseBadArgumentsWithExit2() throws Exception {
        Run transport = panpipe("convert", "--transport", "carrier-pigeon");
        assertEquals(2, transport.exit());
        assertTrue(transport.err().contains("unknown transport 'carrier-pigeon'"), transport.err());
        Run op = panpipe("convert", "--op", "sepia");
        assertEquals(2, op.exit());
        assertTrue(op.err().contains("unknown operation 'sepia'"), op.err());
    }
}
