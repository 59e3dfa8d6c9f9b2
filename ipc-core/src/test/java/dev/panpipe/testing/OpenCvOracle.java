package dev.panpipe.testing;

import org.junit.jupiter.api.Assumptions;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs Python code with OpenCV as the reference implementation. Always Debian's {@code /usr/bin/python3}
 * (python3-opencv, python3-numpy): the first python3 on PATH may be another one, without cv2. When that
 * Python cannot import cv2 and numpy, the calling test is skipped, not failed; scripts/test installs them.
 */
public final class OpenCvOracle {
    public static final String PYTHON = "/usr/bin/python3";
    private static Boolean available;

    private OpenCvOracle() {
    }

    /** Skips the calling test unless {@code /usr/bin/python3 -c 'import cv2, numpy'} succeeds. */
    public static synchronized void assumeAvailable() throws IOException, InterruptedException {
        if (available == null) {
            available = Files.isExecutable(Path.of(PYTHON)) && run(Path.of("."), "import cv2, numpy", List.of()).exit == 0;
        }
        Assumptions.assumeTrue(available, "OpenCV oracle unavailable: " + PYTHON + " -c 'import cv2, numpy' failed"
                + " (apt-get install python3-opencv python3-numpy; scripts/test does it when run as root)");
    }

    public record Result(int exit, String output) {
    }

    /** Runs {@code script} with {@code args} in {@code dir}; output is stdout and stderr together. */
    public static Result run(Path dir, String script, List<String> args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of(PYTHON, "-c", script));
        command.addAll(args);
        // Output to a file, not a pipe read to its end: a Python that hangs would hold that read past any timeout.
        Path log = Files.createTempFile("panpipe-opencv-oracle", ".log");
        try {
            Process p = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true)
                    .redirectOutput(log.toFile()).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
            boolean ended = p.waitFor(60, TimeUnit.SECONDS);
            if (!ended) p.destroyForcibly().waitFor();
            String out = new String(Files.readAllBytes(log), StandardCharsets.UTF_8);
            if (!ended) throw new IOException("python did not finish within 60 s: " + out);
            return new Result(p.exitValue(), out);
        } finally {
            Files.deleteIfExists(log);
        }
    }

    /** Runs {@code script} and fails unless it exits 0. */
    public static String check(Path dir, String script, String... args) throws IOException, InterruptedException {
        Result r = run(dir, script, List.of(args));
        if (r.exit != 0) throw new AssertionError("OpenCV oracle failed (exit " + r.exit + "):\n" + r.output);
        return r.output;
    }
}
