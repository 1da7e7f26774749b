package dev.keel.io;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.List;
import java.util.function.Consumer;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import dev.keel.KeelException;

/**
 * Replaces some files of a folder all at once, so that a failure at any moment (a full disk, a kill) leaves the
 * folder as it was. The new files are written into a temporary sibling folder {@code .NAME.keel-saving-PID},
 * every other entry of the folder is hard-linked (or, where links are impossible, copied) beside them, and the
 * complete sibling is then renamed into place: the folder is renamed to {@code .NAME.keel-old-PID}, the sibling
 * to NAME, and the old one deleted. A kill between those two renames, microseconds apart, leaves the old folder
 * under the {@code keel-old} name; {@link #recover} puts it back on the next use of the folder.
 *
 * <p>Only files Keel wrote are ever removed: the sibling folders carry Keel's own names and the pid of the process
 * that made them, and are deleted only when that process is gone.
 */
public final class AtomicFolder {
    private static final Pattern SIBLING = Pattern.compile("\\.(.+)\\.keel-(saving|old)-(\\d+)");

    private AtomicFolder() {}

    /**
     * Makes {@code dir} hold what {@code writer} writes into the (empty) folder it is given, plus every existing
     * entry of {@code dir} for which {@code replaced} is false; entries for which it is true disappear unless the
     * writer wrote them again. The folder is created when missing.
     */
    public static void replace(Path dir, Predicate<String> replaced, Consumer<Path> writer) {
        Path target = real(dir);
        recover(target);
        Path parent = target.getParent();
        String name = target.getFileName().toString();
        long pid = ProcessHandle.current().pid();
        Path staging = parent.resolve("." + name + ".keel-saving-" + pid);
        try {
            deleteTree(staging); // a leftover of this very pid can only be an earlier failed save of ours
            Files.createDirectories(staging);
            writer.accept(staging);
            if (Files.isDirectory(target)) {
                try (var entries = Files.list(target)) {
                    for (Path e : (Iterable<Path>) entries::iterator) {
                        String n = e.getFileName().toString();
                        if (!replaced.test(n) && !Files.exists(staging.resolve(n), LinkOption.NOFOLLOW_LINKS)) {
                            linkTree(e, staging.resolve(n));
                        }
                    }
                }
            }
        } catch (IOException e) {
            discard(staging);
            throw new KeelException(target + ": cannot save: " + e.getClass().getSimpleName() + ": " + e.getMessage()
                    + "; the folder is unchanged", e);
        } catch (KeelException e) {
            discard(staging);
            throw new KeelException(e.getMessage() + "; " + target + " is unchanged", e);
        } catch (RuntimeException | Error e) {
            discard(staging);
            throw e;
        }
        swap(staging, target, parent.resolve("." + name + ".keel-old-" + pid));
    }

    private static void discard(Path staging) {
        try {
            deleteTree(staging);
        } catch (IOException ignored) {
            // the first failure is the one to report
        }
    }

    private static void swap(Path staging, Path target, Path old) {
        try {
            if (!Files.exists(target, LinkOption.NOFOLLOW_LINKS)) {
                Files.move(staging, target, StandardCopyOption.ATOMIC_MOVE);
                return;
            }
            deleteTree(old);
            Files.move(target, old, StandardCopyOption.ATOMIC_MOVE);
            try {
                Files.move(staging, target, StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException e) {
                Files.move(old, target, StandardCopyOption.ATOMIC_MOVE);
                throw e;
            }
            deleteTree(old);
        } catch (IOException e) {
            throw new KeelException(target + ": cannot move the saved files into place: " + e.getMessage()
                    + " (they are in " + staging + ")", e);
        }
    }

    /**
     * Undoes what a killed save left beside {@code dir}: when {@code dir} is missing but a {@code keel-old} copy
     * of it is there (killed between the two renames), that copy is renamed back; staging and old folders of
     * processes that are gone are deleted. Returns true when the folder was put back.
     */
    public static boolean recover(Path dir) {
        Path parent = dir.toAbsolutePath().getParent();
        if (parent == null || !Files.isDirectory(parent)) {
            return false;
        }
        String name = dir.getFileName().toString();
        boolean restored = false;
        try (var s = Files.list(parent)) {
            List<Path> siblings = s.filter(p -> {
                Matcher m = SIBLING.matcher(p.getFileName().toString());
                return m.matches() && m.group(1).equals(name) && !alive(Long.parseLong(m.group(3)));
            }).sorted(Comparator.comparing(p -> p.getFileName().toString())).toList();
            for (Path p : siblings) {
                boolean old = p.getFileName().toString().contains(".keel-old-");
                if (old && !Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
                    Files.move(p, dir, StandardCopyOption.ATOMIC_MOVE);
                    restored = true;
                } else {
                    deleteTree(p);
                }
            }
        } catch (IOException e) {
            throw new KeelException(dir + ": cannot tidy what an interrupted save left: " + e.getMessage(), e);
        }
        return restored;
    }

    private static boolean alive(long pid) {
        return pid == ProcessHandle.current().pid() || ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false);
    }

    /** {@code dir} with symbolic links resolved, so a linked folder is replaced where it really is. */
    private static Path real(Path dir) {
        Path abs = dir.toAbsolutePath().normalize();
        try {
            return Files.exists(abs) ? abs.toRealPath() : abs;
        } catch (IOException e) {
            throw new KeelException(dir + ": cannot resolve: " + e.getMessage(), e);
        }
    }

    /** Recreates {@code from} at {@code to}: folders made anew, files hard-linked (copied where links fail). */
    private static void linkTree(Path from, Path to) throws IOException {
        if (Files.isSymbolicLink(from)) {
            Files.createSymbolicLink(to, Files.readSymbolicLink(from));
        } else if (Files.isDirectory(from)) {
            Files.createDirectory(to);
            try (var s = Files.list(from)) {
                for (Path p : (Iterable<Path>) s::iterator) {
                    linkTree(p, to.resolve(p.getFileName().toString()));
                }
            }
        } else {
            try {
                Files.createLink(to, from);
            } catch (IOException | UnsupportedOperationException e) {
                Files.copy(from, to, StandardCopyOption.COPY_ATTRIBUTES);
            }
        }
    }

    /** Deletes a folder and everything in it (links themselves, never their targets); nothing when missing. */
    public static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        try (var s = Files.walk(dir)) {
            for (Path p : (Iterable<Path>) s.sorted(Comparator.reverseOrder())::iterator) {
                Files.delete(p);
            }
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
    }
}
