// The anpi library module: the Rust library for each Android ABI (built by
// cargo-ndk into jniLibs), the uniffi-generated Kotlin bindings (generated
// from the host build into build/generated/uniffi, not committed), and the
// Kotlin layer in src/main/kotlin.
plugins {
    id("com.android.library")
    id("org.jetbrains.kotlin.android")
}

android {
    namespace = "jp.anpi"
    compileSdk = 35
    defaultConfig {
        minSdk = 26
        consumerProguardFiles("consumer-rules.pro")
    }
    sourceSets["main"].kotlin.srcDir(layout.buildDirectory.dir("generated/uniffi/kotlin"))
    sourceSets["main"].jniLibs.srcDir(layout.buildDirectory.dir("generated/jniLibs"))
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
    kotlinOptions { jvmTarget = "17" }
}

dependencies {
    // uniffi's Kotlin calls the library through JNA (the aar carries its
    // Android native parts).
    implementation("net.java.dev.jna:jna:5.15.0@aar")
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-android:1.9.0")
}

val repo = rootDir.parentFile

// The Rust library for the phone ABIs: size-optimised profile, OpenSSL for
// SQLCipher compiled in (phones have none). Needs ANDROID_NDK_HOME and
// `cargo install cargo-ndk`.
val cargoNdk by tasks.registering(Exec::class) {
    workingDir = repo
    commandLine(
        "cargo", "ndk",
        "-t", "arm64-v8a", "-t", "armeabi-v7a", "-t", "x86_64",
        "-o", layout.buildDirectory.dir("generated/jniLibs").get().asFile.path,
        "build", "--locked", "-p", "anpi-ffi", "--profile", "mobile", "--features", "vendored-openssl",
    )
}

// The Kotlin bindings, generated from a host build by the in-repo bindgen.
val bindings by tasks.registering(Exec::class) {
    workingDir = repo
    commandLine("scripts/bindings", layout.buildDirectory.dir("generated/uniffi").get().asFile.path)
}

tasks.named("preBuild") { dependsOn(cargoNdk, bindings) }
