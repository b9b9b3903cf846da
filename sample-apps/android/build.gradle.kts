// Plugin versions of the shell; the Android and Kotlin ones match android/build.gradle.kts,
// the AAR's build, which this one includes.
plugins {
    id("com.android.application") version "8.7.3" apply false
    id("org.jetbrains.kotlin.android") version "2.1.21" apply false
    id("org.jetbrains.kotlin.plugin.compose") version "2.1.21" apply false
}
