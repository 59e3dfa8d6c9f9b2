package dev.panpipe.process;

import java.nio.file.Path;

/**
 * Starts true in the directory args[0] and prints what start threw, for {@link SpawnFailureTest}: a JVM of its own,
 * run without the capabilities that pass over a directory's permissions when the test runs as root.
 */
final class WorkingDirectoryDeniedMain {
    private WorkingDirectoryDeniedMain() {
    }

    public static void main(String[] args) throws Exception {
        try (Subprocess p = Subprocess.builder("true").directory(Path.of(args[0])).start()) {
            System.out.println("started: " + p.waitFor());
        } catch (SpawnException e) {
            System.out.println(e.getClass().getSimpleName() + (e instanceof ProgramNotFoundException n ? " exists=" + n.exists() : "") + ": " + e.getMessage());
        }
    }
}
