// The AAR: generated bindings (src/main/uniffi), the Kotlin layer (src/main/kotlin), the
// Android-only monitors (src/androidMain/kotlin) and libbitnet_ffi.so per ABI
// (src/main/jniLibs/<abi>/, from scripts/build-android.sh).
plugins {
    id("com.android.library")
    id("org.jetbrains.kotlin.android")
    id("maven-publish")
}

android {
    namespace = "dev.bitnet"
    compileSdk = 35

    defaultConfig {
        // Thermal listener needs 29 and headroom 30; both are checked at run time.
        minSdk = 24
        consumerProguardFiles("consumer-rules.pro")
        ndk {
            abiFilters += listOf("arm64-v8a", "armeabi-v7a", "x86_64")
        }
    }

    sourceSets {
        getByName("main") {
            kotlin.srcDirs("src/main/kotlin", "src/main/uniffi", "src/androidMain/kotlin")
            jniLibs.srcDirs("src/main/jniLibs")
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    kotlinOptions {
        jvmTarget = "17"
    }

    publishing {
        singleVariant("release") {
            withSourcesJar()
        }
    }
}

dependencies {
    // The generated bindings call the library through JNA; the AAR flavour carries
    // libjnidispatch.so for every Android ABI. Same version as android/jvm/pom.xml.
    implementation("net.java.dev.jna:jna:5.17.0@aar")
    // Flow and suspend functions are part of the public API.
    api("org.jetbrains.kotlinx:kotlinx-coroutines-android:1.10.2")
}

publishing {
    publications {
        register<MavenPublication>("release") {
            groupId = "dev.bitnet"
            artifactId = "bitnet-android"
            version = "0.1.0"
            afterEvaluate {
                from(components["release"])
            }
        }
    }
}
