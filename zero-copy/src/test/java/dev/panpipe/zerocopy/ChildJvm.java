package dev.panpipe.zerocopy;

import dev.panpipe.process.Redirect;
import dev.panpipe.process.Subprocess;
import dev.panpipe.process.SubprocessBuilder;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * A child JVM running a main class of this module's test sources, with the same module path (the test
 * classes patched in as surefire does), native access granted by module name, and shared memory handed
 * over as fds 3, 4, ...; its stdout is a pipe the test reads lines from, its stderr the test's.
 */
public final class ChildJvm implements AutoCloseable {
    private static final String MODULE = "dev.panpipe.zerocopy";

    private final Subprocess process;
    private final BufferedReader out;

    private ChildJvm(Subprocess process) {
        this.process = process;
        this.out = new BufferedReader(new InputStreamReader(process.stdout().asInputStream(), StandardCharsets.UTF_8));
    }

    /** Starts {@code main} with {@code fds[i]} of this process as fd {@code 3 + i} of the child. */
    public static ChildJvm start(Class<?> main, long[] fds, String... args) throws IOException {
        return start(List.of(), main, fds, args);
    }

    /**
     * As {@link #start(Class, long[], String...)}, the java command run by {@code wrapper} (a program that ends
     * by executing its arguments, as {@code unshare ... sh -c '...; exec "$@"' sh} does).
     */
    public static ChildJvm start(List<String> wrapper, Class<?> main, long[] fds, String... args) throws IOException {
        return start(wrapper, List.of(), main, fds, args);
    }

    /** As {@link #start(List, Class, long[], String...)}, with {@code jvmOptions} (such as {@code -XX:} flags) for the child's JVM. */
    public static ChildJvm start(List<String> wrapper, List<String> jvmOptions, Class<?> main, long[] fds, String... args)
            throws IOException {
        List<String> cmd = new ArrayList<>(wrapper);
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        // small and quiet: several of these share two vCPUs; no hsperfdata file left by a SIGKILLed child
        cmd.addAll(List.of("-XX:+UseSerialGC", "-Xmx64m", "-XX:-UsePerfData"));
        cmd.addAll(jvmOptions);
        cmd.add("--enable-native-access=dev.panpipe.bindings,dev.panpipe.core," + MODULE);
        cmd.addAll(List.of("-p", System.getProperty("jdk.module.path")));
        cmd.addAll(List.of("--patch-module", MODULE + "=" + Path.of("target", "test-classes").toAbsolutePath()));
        // ipc-core's shared test classes (dev.panpipe.testing) come on the class path, as they do here, and use the
        // generated bindings, exported to panpipe's modules only (see the test JVM's arguments in pom.xml)
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), "--add-reads", MODULE + "=ALL-UNNAMED",
                "--add-exports", "dev.panpipe.bindings/dev.panpipe.bindings.linux=ALL-UNNAMED"));
        cmd.addAll(List.of("-m", MODULE + "/" + main.getName()));
        cmd.addAll(List.of(args));
        SubprocessBuilder builder = Subprocess.builder(cmd).stderr(Redirect.inherit()).destroyGrace(Duration.ofSeconds(2));
        for (int i = 0; i < fds.length; i++) builder.passFd(3 + i, Redirect.fd((int) fds[i]));
        return new ChildJvm(builder.start());
    }

    public long pid() {
        return process.pid();
    }

    public Subprocess process() {
        return process;
    }

    /** The next line the child printed; fails if it ended first. */
    public String readLine() throws IOException {
        String line = out.readLine();
        if (line == null) throw new IOException("child " + pid() + " ended without a line; " + process.waitFor());
        return line;
    }

    /** Reads lines until one equals {@code expected}; fails if the child ends first. */
    public void expect(String expected) throws IOException {
        String line;
        while (!(line = readLine()).equals(expected)) {
            if (line.startsWith("FAIL")) throw new AssertionError("child " + pid() + ": " + line);
        }
    }

    @Override
    public void close() throws IOException {
        process.close();
    }

}
