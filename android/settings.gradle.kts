// anpi for Android: the `anpi` library module and the sample app. Built
// with the Android SDK, NDK and cargo-ndk, which this project's machines do
// not have (see README.md); the Kotlin layer is tested on the host JVM by
// jvm-test/run instead.
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}
dependencyResolutionManagement {
    repositories {
        google()
        mavenCentral()
    }
}
rootProject.name = "anpi-android"
include(":anpi", ":app")
