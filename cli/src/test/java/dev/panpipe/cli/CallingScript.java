package dev.panpipe.cli;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * panpipe run from a bash script, as a terminal's Ctrl-C meets it. bash waiting for a foreground command that
 * SIGINT reached stops the script only if that command died of SIGINT; one that exited 130 is taken to have
 * caught it and carried on, and the script goes on with its next command. A command that cleans up on Ctrl-C
 * must therefore end by the signal, not by exit(130), for a script's loop over it to stop.
 */
public final class CallingScript {
    private CallingScript() {
    }

    /**
     * Runs {@code "$0" ARGS; echo "script went on after $?"} under bash in a process group of its own, in
     * {@code dir}, waits until the script's output holds {@code started}, sends the whole group SIGINT, as a terminal does, and asserts
     * that the script stopped at panpipe and bash died of SIGINT.
     *
     * @param args panpipe's arguments, as shell words (quoted for bash)
     */
    public static void assertStopsOnCtrlC(Path launcher, String args, String started, Path dir) throws Exception {
        Path out = dir.resolve("script.out");
        assertStopsOnCtrlC(launcher, args, () -> {
            try {
                return Files.exists(out) && Files.readString(out).contains(started);
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }, dir);
    }

    /** As above, sending the SIGINT once {@code started} is true (polled for up to 30 s). */
    public static void assertStopsOnCtrlC(Path launcher, String args, BooleanSupplier started, Path dir) throws Exception {
        Path out = dir.resolve("script.out");
        String script = "\"$0\" " + args + "; echo \"script went on after $?\"";
        ProcessBuilder pb = new ProcessBuilder("setsid", "/bin/bash", "-c", script, launcher.toString())
                .directory(dir.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectOutput(out.toFile())
                .redirectError(ProcessBuilder.Redirect.INHERIT);
        pb.environment().put("PANPIPE_NO_BUILD", "1");
        Process p = pb.start();     // setsid execs bash in place: its pid is the new process group's number
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (!started.getAsBoolean()) {
                assertTrue(p.isAlive() && System.nanoTime() < deadline, "panpipe got going; script output: " + Files.readString(out));
                Thread.sleep(20);
            }
            // as a terminal's Ctrl-C does: the whole foreground group, the script and panpipe (and any child
            // of panpipe's left in that group)
            assertEquals(0, new ProcessBuilder("kill", "-INT", "--", "-" + p.pid()).start().waitFor());
            assertTrue(p.waitFor(30, TimeUnit.SECONDS), "the script did not end");
            String output = Files.readString(out);
            assertTrue(!output.contains("script went on"), "the script went on, as after a command that caught Ctrl-C: " + output);
            assertEquals(128 + 2, p.exitValue(), "bash died of SIGINT");
        } finally {
            new ProcessBuilder("kill", "-KILL", "--", "-" + p.pid()).redirectError(ProcessBuilder.Redirect.DISCARD).start().waitFor();
            p.waitFor();
        }
    }

    /** Polls (for up to 30 s) until one of {@code files} contains {@code text}. */
    static void awaitContaining(String what, String text, Path... files) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        for (;;) {
            for (Path f : files) if (Files.exists(f) && Files.readString(f).contains(text)) return;
            assertTrue(System.nanoTime() < deadline, what);
            Thread.sleep(20);
        }
    }
}
