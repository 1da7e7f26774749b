package dev.keel.train;

import java.nio.file.Path;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.module.SimpleModule;
import com.fasterxml.jackson.databind.ser.std.ToStringSerializer;
import com.fasterxml.jackson.datatype.jdk8.Jdk8Module;

/**
 * Settings records as JSON, for {@code run_config.json}: each record's components by name, Optionals as their
 * value or null, paths as written.
 */
public final class SettingsJson {
    private static final ObjectMapper JSON = new ObjectMapper().registerModule(new Jdk8Module())
            .registerModule(new SimpleModule().addSerializer(Path.class, ToStringSerializer.instance));

    private SettingsJson() {}

    /** {@code settings} (a record, or anything Jackson serialises) as a JSON tree. */
    public static JsonNode of(Object settings) {
        return JSON.valueToTree(settings);
    }
}
