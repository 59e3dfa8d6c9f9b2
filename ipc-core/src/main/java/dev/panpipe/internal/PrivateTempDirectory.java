package dev.panpipe.internal;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The private (0700) directories panpipe makes in {@code java.io.tmpdir} for FIFOs, named
 * {@code <prefix><pid>-<random>} after the process that made them, so that one left behind by a process that
 * was killed (nothing runs at SIGKILL) can be told from one in use: {@link #create} first removes this
 * user's directories of the same prefix whose process is gone. The survivor cleans up after the dead.
 */
public final class PrivateTempDirectory {
    private PrivateTempDirectory() {
    }

    /** Makes {@code <prefix><pid>-<random>}, mode 0700, after removing the abandoned ones of {@code prefix}. */
    public static Path create(String prefix) throws IOException {
        Path dir = Files.createTempDirectory(prefix + ProcessHandle.current().pid() + "-",
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        removeAbandoned(dir.getParent(), prefix, Files.getOwner(dir));
        return dir;
    }

    /**
     * Removes the directories {@code <prefix><pid>-<digits>} in {@code tmp} that belong to {@code owner} and whose
     * pid is gone, with the files (FIFOs) left in them. Best effort: a directory another survivor removes
     * first, one that is not a plain directory (a symbolic link), or one holding a subdirectory is left alone.
     * A process whose pid was reused keeps the directory until that process is gone too.
     */
    public static void removeAbandoned(Path tmp, String prefix, UserPrincipal owner) {
        Pattern shape = Pattern.compile(Pattern.quote(prefix) + "([0-9]{1,10})-[0-9]+");
        try (DirectoryStream<Path> candidates = Files.newDirectoryStream(tmp, prefix + "*")) {
            for (Path dir : candidates) {
                Matcher m = shape.matcher(dir.getFileName().toString());
                if (!m.matches() || ProcessHandle.of(Long.parseLong(m.group(1))).isPresent()) continue;
                try {
                    PosixFileAttributes a = Files.readAttributes(dir, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
                    if (!a.isDirectory() || !a.owner().equals(owner)) continue;
                    try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir)) {
                        for (Path e : entries) Files.deleteIfExists(e);   // a link is removed, never followed
                    }
                    Files.deleteIfExists(dir);
                } catch (IOException notOursToRemove) {
                    // raced with another survivor, or it holds something panpipe did not make: leave it
                }
            }
        } catch (IOException unreadable) {
            // no listing of the temporary directory: nothing to sweep
        }
    }
}
