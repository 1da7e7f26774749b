package dev.keel.data;

/** What to do with a record longer than {@code --max-length}. */
public enum Truncation {
    /** keep the first max-length tokens, count the record as truncated in the log */
    KEEP_START,
    /** refuse: an error naming the file and line, before any training */
    ERROR
}
